"""Apply one canonical ADT event: store it in the encounter's history, re-fold the history,
move the bed occupancy to match, and return the deltas for the board.

Never commits (the consumer runner owns the transaction). Duplicate events are no-ops; late
and cancelling events are handled by the fold over the stored history (app/engine/adt.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.board.deltas import Delta
from app.engine.adt import EncounterState, fold
from app.occupancy.events import AdtEvent, Location
from app.occupancy.models import Encounter, LocationException
from app.occupancy.repository import OccupancyRepository
from app.topology.models import Bed

BED_STATUS_CODES = frozenset("CHIKOU")


@dataclass
class ChangeSet:
    units: set[str] = field(default_factory=set)
    beds: dict[str, Bed] = field(default_factory=dict)

    def touch(self, bed: Bed) -> None:
        self.beds[bed.id] = bed
        self.units.add(bed.unit_id)


def bed_id_for(location: Location | None) -> str | None:
    if location is None or not (location.site and location.ward and location.bed):
        return None
    return f"{location.site}:{location.ward}:{location.bed}"


class OccupancyProjector:
    def __init__(self, repository: OccupancyRepository) -> None:
        self.repo = repository

    async def apply(self, event: AdtEvent) -> list[Delta]:
        changes = ChangeSet()
        if event.trigger == "A20":
            await self._bed_status(event, changes)
        elif event.trigger == "A40":
            if event.merged_patient_id and event.patient_id:
                await self.repo.merge_patient(event.merged_patient_id, event.patient_id)
        elif event.trigger in ("A28", "A31"):
            pass  # demographics only: never a bed change (a PV1 on them is ignored)
        else:
            for encounter_event in _per_encounter(event):
                await self._apply_to_encounter(encounter_event, changes)
        return await self._deltas(changes)

    async def _apply_to_encounter(self, event: AdtEvent, changes: ChangeSet) -> None:
        stored = await self.repo.add_event(
            encounter_id=event.encounter_key,
            dedupe_key=event.dedupe_key,
            trigger=event.trigger,
            event_time=event.event_time,
            payload=event.model_dump(mode="json"),
        )
        if not stored:
            return  # the same source message again: a no-op
        encounter = await self.repo.lock_encounter(event.encounter_key)
        history = [AdtEvent.model_validate(p) for p in await self.repo.event_payloads(encounter.id)]
        state = fold(history)
        target = bed_id_for(state.location) if state.holds_bed else None
        await self._move_occupancy(event, target, state, changes)
        _copy_state(encounter, state, bed_id=target, event_count=len(history))

    async def _move_occupancy(
        self, event: AdtEvent, target: str | None, state: EncounterState, changes: ChangeSet
    ) -> None:
        held = await self.repo.bed_holding(event.encounter_key)
        for bed in held:
            if bed.id != target:
                bed.occupant_encounter_id = None
                bed.occupied_since = None
                changes.touch(bed)
        if not state.holds_bed or any(bed.id == target for bed in held):
            return
        placed = target is not None and await self._occupy(
            target, event.encounter_key, state, changes
        )
        # Report it once, from the message that carried the location, not on every re-fold.
        if not placed and event.location == state.location:
            self._exception(event.encounter_key, state, "location not in the bed master")

    async def _occupy(
        self, bed_id: str, encounter_id: str, state: EncounterState, changes: ChangeSet
    ) -> bool:
        bed = await self.repo.lock_bed(bed_id)
        if bed is None:
            return False
        if bed.occupant_encounter_id not in (None, encounter_id):
            self._exception(
                encounter_id, state, f"bed already held by {bed.occupant_encounter_id}; reassigned"
            )
        bed.occupant_encounter_id = encounter_id
        bed.occupied_since = state.last_event_time
        changes.touch(bed)
        return True

    def _exception(self, encounter_id: str, state: EncounterState, detail: str) -> None:
        location = state.location or Location()
        self.repo.add_exception(
            LocationException(
                encounter_id=encounter_id,
                site_code=location.site or None,
                location_text=location.text() or "(none)",
                trigger="fold",
                event_time=state.last_event_time,
                detail=detail,
            )
        )

    async def _bed_status(self, event: AdtEvent, changes: ChangeSet) -> None:
        """A20: the bed's own status (table 0116) — closed, cleaning, isolated, open."""
        bed_id = bed_id_for(event.location)
        status = (event.bed_status or "").upper()[:1]
        bed = await self.repo.lock_bed(bed_id) if bed_id else None
        if bed is None or status not in BED_STATUS_CODES:
            self.repo.add_exception(
                LocationException(
                    encounter_id=event.encounter_key,
                    site_code=event.location and event.location.site,
                    location_text=(event.location or Location()).text() or "(none)",
                    trigger="A20",
                    event_time=event.event_time,
                    detail=f"A20 for an unknown bed or status {event.bed_status!r}",
                )
            )
            return
        # O and U describe occupancy, which comes from ADT; as bed status they mean "open".
        bed.status = "U" if status in ("O", "U") else status
        changes.touch(bed)

    async def _deltas(self, changes: ChangeSet) -> list[Delta]:
        if not changes.units:
            return []
        counts = await self.repo.unit_counts(sorted(changes.units))
        deltas: list[Delta] = []
        for unit_id, unit_counts in counts.items():
            site = unit_id.split(":", 1)[0]
            for view in (f"site:{site}", "system"):
                deltas.append(Delta(view, "unit", unit_id, unit_counts))
        for bed in changes.beds.values():
            deltas.append(Delta(f"site:{bed.site_code}", "bed", bed.id, bed_view(bed)))
        return deltas


def bed_view(bed: Bed) -> dict[str, object]:
    """What a board may know about a bed: never who is in it."""
    return {
        "unit": bed.unit_id,
        "code": bed.code,
        "bay": bed.bay,
        "kind": bed.kind,
        "status": bed.status,
        "occupied": bed.occupant_encounter_id is not None,
        "occupied_since": bed.occupied_since.isoformat() if bed.occupied_since else None,
    }


def _per_encounter(event: AdtEvent) -> list[AdtEvent]:
    """A17 (swap) is one move for each of the two spells."""
    if event.trigger != "A17" or not event.swap_encounter_key:
        return [event]
    other = event.model_copy(
        update={
            "encounter_key": event.swap_encounter_key,
            "location": event.swap_location,
            "patient_id": None,
            "nhs_number": None,
        }
    )
    return [event, other]


def _copy_state(
    encounter: Encounter, state: EncounterState, *, bed_id: str | None, event_count: int
) -> None:
    location = state.location
    encounter.site_code = location.site if location and location.site else encounter.site_code
    encounter.patient_id = state.patient_id
    encounter.nhs_number = state.nhs_number
    encounter.patient_class = state.patient_class
    encounter.status = state.status
    encounter.bed_id = bed_id
    encounter.location_text = location.text() if location else None
    encounter.arrived_at = state.arrived_at
    encounter.admitted_at = state.admitted_at
    encounter.discharged_at = state.discharged_at
    encounter.pending_discharge = state.pending_discharge
    encounter.on_leave = state.on_leave
    encounter.last_event_time = state.last_event_time
    encounter.event_count = event_count
