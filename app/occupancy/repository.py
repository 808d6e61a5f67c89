"""All SQL for encounters, their event history, beds' occupants and unit bed counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.occupancy.models import Encounter, EncounterEvent, LocationException, ProcessedMessage
from app.topology.models import Bed, Unit

OPEN = (Bed.status != "C") | Bed.occupant_encounter_id.is_not(None)
GA = Bed.kind.in_(("core", "escalation"))


class OccupancyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mark_processed(self, source: str, message_id: str) -> bool:
        """True the first time this (source, message id) is seen; False for a duplicate."""
        statement = (
            insert(ProcessedMessage)
            .values(source=source, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(ProcessedMessage.message_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def add_event(
        self,
        *,
        encounter_id: str,
        dedupe_key: str,
        trigger: str,
        event_time: datetime,
        payload: dict[str, Any],
    ) -> bool:
        statement = (
            insert(EncounterEvent)
            .values(
                encounter_id=encounter_id,
                dedupe_key=dedupe_key,
                trigger=trigger,
                event_time=event_time,
                payload=payload,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(EncounterEvent.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def event_payloads(self, encounter_id: str) -> Sequence[dict[str, Any]]:
        query = select(EncounterEvent.payload).where(EncounterEvent.encounter_id == encounter_id)
        return (await self.session.execute(query)).scalars().all()

    async def lock_encounter(self, encounter_id: str) -> Encounter:
        """The encounter row, created if new, locked for the rest of the transaction so two
        consumers can never fold the same spell at once."""
        await self.session.execute(
            insert(Encounter).values(id=encounter_id, status="unknown").on_conflict_do_nothing()
        )
        query = select(Encounter).where(Encounter.id == encounter_id).with_for_update()
        return (await self.session.execute(query)).scalar_one()

    async def lock_bed(self, bed_id: str) -> Bed | None:
        query = select(Bed).where(Bed.id == bed_id).with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def bed_holding(self, encounter_id: str) -> Sequence[Bed]:
        query = select(Bed).where(Bed.occupant_encounter_id == encounter_id).with_for_update()
        return (await self.session.execute(query)).scalars().all()

    async def encounters_of_patient(self, patient_id: str) -> Sequence[Encounter]:
        query = select(Encounter).where(Encounter.patient_id == patient_id).with_for_update()
        return (await self.session.execute(query)).scalars().all()

    async def merge_patient(self, old_patient_id: str, new_patient_id: str) -> int:
        result = await self.session.execute(
            update(Encounter)
            .where(Encounter.patient_id == old_patient_id)
            .values(patient_id=new_patient_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def add_exception(self, exception: LocationException) -> None:
        self.session.add(exception)

    async def unit_counts(self, unit_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Bed counts for the given units only (each event touches only what it changed)."""
        occupied = Bed.occupant_encounter_id.is_not(None)
        query = (
            select(
                Bed.unit_id,
                func.count().filter(Bed.kind == "core").label("core_beds"),
                func.count().filter(GA & OPEN).label("open_beds"),
                func.count().filter(GA & occupied).label("occupied"),
                func.count().filter(GA & OPEN & ~occupied & (Bed.status == "U")).label("free"),
                func.count()
                .filter(GA & ~occupied & (Bed.status != "U") & (Bed.status != "C"))
                .label("unavailable"),
                func.count()
                .filter((Bed.kind == "core") & (Bed.status == "C") & ~occupied)
                .label("closed"),
                func.count().filter((Bed.kind == "escalation") & OPEN).label("escalation_open"),
                func.count().filter((Bed.kind == "virtual") & occupied).label("virtual_occupied"),
            )
            .where(Bed.unit_id.in_(unit_ids))
            .group_by(Bed.unit_id)
        )
        rows = (await self.session.execute(query)).mappings().all()
        return {
            row["unit_id"]: {k: int(v) for k, v in row.items() if k != "unit_id"} for row in rows
        }

    async def units_by_id(self, unit_ids: Sequence[str]) -> dict[str, Unit]:
        query = select(Unit).where(Unit.id.in_(unit_ids))
        return {unit.id: unit for unit in (await self.session.execute(query)).scalars()}
