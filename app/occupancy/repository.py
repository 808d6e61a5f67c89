"""All SQL for encounters, their event history, beds' occupants and unit bed counts (the
statements every batch runs are built once, in app/occupancy/statements.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import any_of, as_arrays
from app.occupancy.events import AdtEvent
from app.occupancy.incremental import Folded, dump
from app.occupancy.mapping import LocationMap, SourceMapping
from app.occupancy.models import (
    Encounter,
    EncounterEvent,
    LocationException,
    PatientMerge,
)
from app.occupancy.places import EconomyPlaces, Places, with_default_sites
from app.occupancy.schemas import LocationCodeRead
from app.occupancy.statements import (
    ADD_EVENTS,
    ADD_EXCEPTIONS,
    EVENT_COLUMNS,
    EXCEPTION_COLUMNS,
    LOCK_ENCOUNTERS,
    MARK_PROCESSED,
    MERGE_CHAINS,
    PLACES,
    SAVE_ENCOUNTERS,
    SPELL_ROW_COLUMNS,
    UNIT_COUNTS,
)
from app.topology.models import Bed


@dataclass(frozen=True)
class StoredSpell:
    """What a spell's next fold needs from its row."""

    site_code: str | None
    event_count: int
    fold: str | None  # JSON text (app/occupancy/incremental.py load)
    discharged_at: datetime | None = None  # before this batch (the engine's memory: WAS_DISCHARGED)


class OccupancyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._exceptions: list[dict[str, Any]] = []

    async def mark_processed_many(self, source: str, message_ids: Sequence[str]) -> set[str]:
        """The ids seen for the first time (one statement for a whole batch)."""
        if not message_ids:
            return set()
        values = {"source": source, "message_id": list(dict.fromkeys(message_ids))}
        return set((await self.session.execute(MARK_PROCESSED, values)).scalars())

    async def add_events(self, events: Mapping[str, AdtEvent]) -> set[str]:
        """Store events (by dedupe key) in their encounters' histories; returns the keys that
        were new."""
        rows = [
            {
                "encounter_id": e.encounter_key,
                "dedupe_key": key,
                "trigger": e.trigger,
                "event_time": e.event_time,
                "payload_json": e.model_dump_json(exclude_defaults=True),
            }
            for key, e in events.items()
        ]
        result = await self.session.execute(ADD_EVENTS, as_arrays(rows, EVENT_COLUMNS))
        return set(result.scalars().all())

    async def lock_encounters(self, encounter_ids: Sequence[str]) -> dict[str, StoredSpell]:
        """What each spell's fold starts from: its row, created if new, locked in id order for
        this transaction — one statement (an upsert locks the rows it touches, in the order
        given; Core, not the ORM: a batch writes hundreds of spells)."""
        if not encounter_ids:
            return {}
        rows = await self.session.execute(LOCK_ENCOUNTERS, {"id": sorted(encounter_ids)})
        return {
            row.id: StoredSpell(row.site_code, row.event_count or 0, row.fold, row.discharged_at)
            for row in rows
        }

    async def save_encounters(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Each spell's derived columns (``spell_row``), one statement for the batch."""
        if rows:
            await self.session.execute(SAVE_ENCOUNTERS, as_arrays(rows, SPELL_ROW_COLUMNS))

    async def histories(self, encounter_ids: Sequence[str]) -> dict[str, list[AdtEvent]]:
        query = select(EncounterEvent.encounter_id, EncounterEvent.payload).where(
            any_of(EncounterEvent.encounter_id, encounter_ids)
        )
        histories: dict[str, list[AdtEvent]] = {eid: [] for eid in encounter_ids}
        for encounter_id, payload in await self.session.execute(query):
            histories[encounter_id].append(AdtEvent.model_validate(payload))
        return histories

    async def lock_beds(
        self, *, bed_ids: Sequence[str | None], held_by: Sequence[str]
    ) -> dict[str, Bed]:
        """Target beds and the beds these encounters hold now, locked in id order."""
        wanted = [bed_id for bed_id in bed_ids if bed_id]
        if not wanted and not held_by:
            return {}
        query = (
            select(Bed)
            .where(any_of(Bed.id, wanted) | any_of(Bed.occupant_encounter_id, held_by))
            .order_by(Bed.id)
            .with_for_update()
        )
        return {bed.id: bed for bed in (await self.session.execute(query)).scalars()}

    async def claimants(
        self, bed_ids: Sequence[str], *, excluding: Sequence[str]
    ) -> dict[str, tuple[str, datetime | None]]:
        """For each bed, the encounter whose current state puts it there (the latest, if two
        do) and since when, among encounters not being re-folded right now."""
        query = (
            select(Encounter.bed_id, Encounter.id, Encounter.location_since)
            .where(any_of(Encounter.bed_id, bed_ids))
            .where(~any_of(Encounter.id, excluding))
            .where(Encounter.status == "admitted")
            .order_by(Encounter.bed_id, Encounter.location_since.desc().nulls_last(), Encounter.id)
        )
        claims: dict[str, tuple[str, datetime | None]] = {}
        for bed_id, encounter_id, since in await self.session.execute(query):
            if bed_id and bed_id not in claims:
                claims[bed_id] = (encounter_id, since)
        return claims

    async def merge_patient(self, old_patient_id: str, new_patient_id: str) -> int:
        """A40: recorded (every later fold maps through it) and applied to the spells now."""
        await self.session.execute(
            insert(PatientMerge)
            .values(old_patient_id=old_patient_id, new_patient_id=new_patient_id)
            .on_conflict_do_update(
                index_elements=["old_patient_id"], set_={"new_patient_id": new_patient_id}
            )
        )
        result = await self.session.execute(
            update(Encounter)
            .where(Encounter.patient_id == old_patient_id)
            .values(patient_id=new_patient_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def merges(self, patient_ids: Collection[str]) -> dict[str, str]:
        """Merged patient id → surviving id, for these ids only (a batch's patients, not every
        merge ever made), followed to the end of a chain of merges; a chain that comes back on
        itself ends at the first id seen twice."""
        ids = sorted({patient_id for patient_id in patient_ids if patient_id})
        if not ids:
            return {}
        rows = await self.session.execute(MERGE_CHAINS, {"ids": ids})
        return {row.start: row.id for row in rows}

    async def rekey(self, old_encounter_id: str, new_encounter_id: str) -> None:
        """A45/A50: the visit's stored history continues under its new number."""
        await self.session.execute(
            update(EncounterEvent)
            .where(EncounterEvent.encounter_id == old_encounter_id)
            .values(encounter_id=new_encounter_id)
        )

    async def delete_encounters(self, encounter_ids: Sequence[str]) -> None:
        """Spells left with no events (a re-keyed visit's old number)."""
        if encounter_ids:
            await self.session.execute(delete(Encounter).where(Encounter.id.in_(encounter_ids)))

    async def places(self) -> Places:
        """Units, sites and location mappings in one round trip (read once per batch)."""
        row = (await self.session.execute(PLACES)).one()
        units: list[list[str]] = row.units or []
        sites: list[list[str]] = row.sites or []
        acute: dict[str, list[str]] = {}
        for code, org, kind in sites:
            if kind == "acute":
                acute.setdefault(org, []).append(code)
        known = frozenset(code for code, _, _ in sites)
        mapping = LocationMap(
            organisations=[SourceMapping.model_validate(m) for m in row.maps or []],
            known_sites=known,
        )
        return Places(
            economy=EconomyPlaces({(site, code): kind for site, code, kind in units}),
            mapping=with_default_sites(mapping, acute, known),
        )

    async def held_encounters(self) -> list[str]:
        """Spells with an open location exception (waiting for a mapping or a bed)."""
        query = (
            select(LocationException.encounter_id)
            .where(
                LocationException.resolved_at.is_(None),
                LocationException.encounter_id != "",
                LocationException.trigger != "fold",
            )
            .distinct()
            .order_by(LocationException.encounter_id)
        )
        return list((await self.session.scalars(query)).all())

    async def exception_summary(self, sites: Sequence[str] | None) -> list[LocationCodeRead]:
        """One row per distinct sender code: how often, first and last seen, how many still
        held, and a sample — what an integrator maps a feed by, working down the list."""
        e = LocationException
        query = (
            select(
                e.source,
                e.location_text,
                func.count().label("messages"),
                func.count().filter(e.resolved_at.is_(None)).label("held"),
                func.min(e.seen_at).label("first_seen"),
                func.max(e.seen_at).label("last_seen"),
                func.array_agg(aggregate_order_by(e.trigger, e.id.desc()))[1].label("trigger"),
                func.array_agg(aggregate_order_by(e.message_id, e.id.desc()))[1].label("message"),
                func.array_agg(aggregate_order_by(e.detail, e.id.desc()))[1].label("detail"),
                func.array_agg(func.distinct(e.site_code)).label("sites"),
            )
            .where(e.trigger != "fold")
            .group_by(e.source, e.location_text)
            .order_by(text("held DESC"), text("messages DESC"), e.location_text)
        )
        if sites is not None:
            query = query.where(e.site_code.in_(list(sites)))
        return [
            LocationCodeRead(
                source=row.source,
                location_text=row.location_text,
                messages=row.messages,
                held=row.held,
                first_seen=row.first_seen,
                last_seen=row.last_seen,
                sites=sorted(s for s in row.sites if s),
                sample_trigger=row.trigger,
                sample_message_id=row.message,
                detail=row.detail,
            )
            for row in await self.session.execute(query)
        ]

    async def existing_beds(self, bed_ids: Sequence[str]) -> set[str]:
        if not bed_ids:
            return set()
        query = select(Bed.id).where(any_of(Bed.id, sorted(set(bed_ids))))
        return set((await self.session.scalars(query)).all())

    async def resolve_exceptions(self, encounter_ids: Sequence[str]) -> None:
        """Spells now placed: their open location exceptions are resolved — those of this batch
        too (written first), so one batch ends as the same events in several would."""
        await self.write_exceptions()
        if encounter_ids:
            await self.session.execute(
                update(LocationException)
                .where(
                    any_of(LocationException.encounter_id, encounter_ids),
                    LocationException.resolved_at.is_(None),
                    LocationException.trigger != "fold",
                )
                .values(resolved_at=func.now())
            )

    async def exceptions(self, *, after_id: int, limit: int) -> Sequence[LocationException]:
        query = (
            select(LocationException)
            .where(LocationException.id > after_id)
            .order_by(LocationException.id)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    def add_exception(self, **row: Any) -> None:
        """A location exception's row (its columns by name), written with the others of the
        batch in one statement before exceptions are next resolved, and at the end of the
        batch's events (``write_exceptions``)."""
        self._exceptions.append(dict.fromkeys(EXCEPTION_COLUMNS) | row)

    async def write_exceptions(self) -> None:
        rows, self._exceptions = self._exceptions, []
        if rows:
            await self.session.execute(ADD_EXCEPTIONS, as_arrays(rows, EXCEPTION_COLUMNS))

    def discard_exceptions(self) -> None:
        """The rows of events whose writes were rolled back."""
        self._exceptions = []

    async def unit_counts(self, unit_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Bed counts for the given units only (each event touches only what it changed)."""
        rows = (await self.session.execute(UNIT_COUNTS, {"units": list(unit_ids)})).mappings()
        return {
            row["unit_id"]: {k: int(v) for k, v in row.items() if k != "unit_id"} for row in rows
        }

    async def as_written(self, beds: Mapping[str, Bed]) -> list[Bed]:
        """These beds (by id) as this transaction leaves them: the objects themselves, which
        it locked and wrote, unless an attempt rolled back to its SAVEPOINT expired them —
        then read again."""
        if not any(_stale(bed) for bed in beds.values()):
            return [beds[bed_id] for bed_id in sorted(beds)]
        query = (
            select(Bed)
            .where(any_of(Bed.id, sorted(beds)))
            .order_by(Bed.id)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(query)).scalars())

    async def reset(self) -> None:
        """Forget every spell and empty every bed (the demo's fresh start)."""
        await self.session.execute(
            text("TRUNCATE encounters, encounter_events, processed_messages, location_exceptions")
        )
        await self.session.execute(
            update(Bed).values(occupant_encounter_id=None, occupied_since=None)
        )


def spell_row(
    encounter_id: str,
    folded: Folded,
    site: str | None,
    bed_id: str | None,
    event_count: int,
    patient_id: str | None,
) -> dict[str, object]:
    """The spell's derived columns: its fold, where it is and since when."""
    state, location = folded.state, folded.state.location
    return {
        "spell": encounter_id,
        "site_code": site,
        "patient_id": patient_id,
        "nhs_number": state.nhs_number,
        "patient_class": state.patient_class,
        "status": state.status,
        "bed_id": bed_id,
        "location_text": location.text()[:200] if location else None,
        "ed_area": state.ed_area,
        "arrived_at": state.arrived_at,
        "admitted_at": state.admitted_at,
        "discharged_at": state.discharged_at,
        "ed_arrived_at": state.ed_arrived_at,
        "ed_departed_at": state.ed_departed_at,
        "decision_to_admit_at": state.decision_to_admit_at,
        "expected_discharge_at": state.expected_discharge_at,
        "pending_discharge": state.pending_discharge,
        "on_leave": state.on_leave,
        "last_event_time": state.last_event_time,
        "location_since": state.location_since or state.last_event_time,
        "event_count": event_count,
        "fold": dump(folded),
    }


def _stale(bed: Bed) -> bool:
    state = inspect(bed)
    return bool(state.expired or state.expired_attributes)
