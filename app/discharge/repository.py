"""All SQL for discharge plans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import table as table_of
from app.discharge.events import DischargeStatusEvent
from app.discharge.models import DischargePlan
from app.occupancy.models import Encounter
from app.topology.models import Bed, Unit

# Ready to leave but still in hospital: every status between "ready" and "discharged".
WAITING = ("ready", "referred", "assessment_booked", "package_sourced", "placement_found")


@dataclass(frozen=True)
class Pending:
    spell_id: str
    site: str | None
    ward: str | None
    pathway: str | None
    status: str
    discharge_ready_at: datetime | None
    delay_reason: str | None
    needs_bed_type: str | None
    local_authority: str | None
    expected_discharge_date: str | None


class DischargeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def plan(self, spell_id: str) -> DischargePlan | None:
        return await self.session.get(DischargePlan, spell_id)

    async def pending(self, local_authorities: Sequence[str], *, now: datetime) -> list[Pending]:
        """People ready to leave hospital and still in a bed, for these local authorities."""
        query = (
            select(
                DischargePlan.spell_id,
                Encounter.site_code.label("site"),
                Unit.name.label("ward"),
                DischargePlan.pathway,
                DischargePlan.status,
                DischargePlan.discharge_ready_at,
                DischargePlan.delay_reason,
                DischargePlan.needs_bed_type,
                DischargePlan.local_authority,
                DischargePlan.expected_discharge_date,
            )
            .join(Encounter, Encounter.id == DischargePlan.spell_id)
            .outerjoin(Bed, Bed.id == Encounter.bed_id)
            .outerjoin(Unit, Unit.id == Bed.unit_id)
            .where(
                Encounter.status == "admitted",
                DischargePlan.status.in_(WAITING),
                DischargePlan.discharge_ready_at <= now,
                DischargePlan.local_authority.in_(list(local_authorities)),
            )
            .order_by(DischargePlan.discharge_ready_at, DischargePlan.spell_id)
        )
        return [Pending(**row._mapping) for row in (await self.session.execute(query)).all()]

    async def identity(self, spell_id: str) -> tuple[str | None, str | None, str | None]:
        """(NHS number, local patient id, local authority) of a spell: identifiable data."""
        query = (
            select(Encounter.nhs_number, Encounter.patient_id, DischargePlan.local_authority)
            .outerjoin(DischargePlan, DischargePlan.spell_id == Encounter.id)
            .where(Encounter.id == spell_id)
        )
        row = (await self.session.execute(query)).first()
        if row is None:
            return None, None, None
        return row[0], row[1], row[2]

    async def record_many(self, events: Sequence[DischargeStatusEvent]) -> None:
        """Only the latest update of each spell can win; upsert those in one statement."""
        latest: dict[str, DischargeStatusEvent] = {}
        for event in events:
            current = latest.get(event.spell_id)
            if current is None or (event.occurred_at, event.event_id) > (
                current.occurred_at,
                current.event_id,
            ):
                latest[event.spell_id] = event
        if latest:
            await self.record(*latest.values())

    async def record(self, *events: DischargeStatusEvent) -> None:
        """Latest occurred_at wins (ties by event id), whatever the arrival order."""
        rows = [event.model_dump(exclude={"schema_version"}) for event in events]
        values = rows[0]
        table = table_of(DischargePlan)
        statement = insert(table)
        incoming = statement.excluded
        newer = (incoming.occurred_at > table.c.occurred_at) | (
            (incoming.occurred_at == table.c.occurred_at) & (incoming.event_id > table.c.event_id)
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["spell_id"],
                set_={name: incoming[name] for name in values if name != "spell_id"},
                where=newer,
            ),
            rows,
        )

    async def reset(self) -> None:
        """Forget everything (the demo's fresh start)."""
        await self.session.execute(text("TRUNCATE discharge_plans"))
