"""Fold an encounter's ADT events into its current state — pure, no I/O.

The result depends only on the SET of events, never on arrival order: events are sorted by
(event time, trigger rank, message id) and cancels (A11/A12/A13/A25/A26/A27/A52/A53) remove the
latest earlier event they cancel before the state machine runs. A late event is therefore
handled by re-folding the stored history with it (domain.md §6.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from app.occupancy.events import AdtEvent, Location

# Rank within equal event times: a cancel comes after what it cancels, a discharge after a move.
TRIGGER_RANK = {
    "A05": 0,
    "A14": 0,
    "A04": 1,
    "A01": 2,
    "A06": 3,
    "A07": 3,
    "A02": 4,
    "A17": 4,
    "A15": 4,
    "A08": 5,
    "A21": 5,
    "A22": 6,
    "A16": 6,
    "A03": 7,
    "A11": 8,
    "A12": 8,
    "A13": 8,
    "A25": 8,
    "A26": 8,
    "A27": 8,
    "A52": 8,
    "A53": 8,
}

CANCELS: dict[str, frozenset[str]] = {
    "A11": frozenset({"A01", "A04", "A06"}),
    "A12": frozenset({"A02", "A17"}),
    "A13": frozenset({"A03"}),
    "A25": frozenset({"A16"}),
    "A26": frozenset({"A15"}),
    "A27": frozenset({"A05", "A14"}),
    "A52": frozenset({"A21"}),
    "A53": frozenset({"A22"}),
}

# Person-level messages: they never change a spell's location or status.
PERSON_ONLY = frozenset({"A28", "A31", "A40"})


@dataclass(frozen=True)
class EncounterState:
    status: str = "unknown"  # planned|ed|registered|admitted|outpatient|discharged|cancelled
    location: Location | None = None
    patient_id: str | None = None
    nhs_number: str | None = None
    patient_class: str | None = None
    arrived_at: datetime | None = None
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None
    pending_discharge: bool = False
    on_leave: bool = False
    last_event_time: datetime | None = None
    cancelled_admission: bool = False
    site: str | None = None
    # When the patient came to the current location (a move away and back counts as arriving
    # again): a function of the history, whatever batches the events came in.
    location_since: datetime | None = None
    # The ED attendance, if this spell started as one (domain.md §3, §8).
    ed_arrived_at: datetime | None = None
    ed_departed_at: datetime | None = None
    decision_to_admit_at: datetime | None = None

    @property
    def holds_bed(self) -> bool:
        return self.status in ("admitted", "ed") and self.location is not None


def order_key(event: AdtEvent) -> tuple[datetime, int, str, str]:
    return (event.event_time, TRIGGER_RANK.get(event.trigger, 5), event.source, event.message_id)


def effective_events(events: Iterable[AdtEvent]) -> tuple[list[AdtEvent], bool]:
    """Sorted events with every cancel and the event it cancels removed.

    Returns the remaining events and whether an admission/registration was cancelled."""
    kept: list[AdtEvent] = []
    cancelled_admission = False
    for event in sorted(events, key=order_key):
        targets = CANCELS.get(event.trigger)
        if targets is None:
            kept.append(event)
            continue
        for index in range(len(kept) - 1, -1, -1):
            if kept[index].trigger in targets:
                cancelled_admission |= event.trigger == "A11"
                del kept[index]
                break
    return kept, cancelled_admission


# Events that place an inpatient somewhere. For a spell never seen admitted (we joined the feed
# late, or its admission was lost) they imply the admission: the bed is shown as occupied rather
# than left free with a patient in it.
IMPLIES_ADMISSION = frozenset({"A02", "A12", "A13", "A17", "A21", "A22", "A16", "A08"})


def fold(events: Iterable[AdtEvent]) -> EncounterState:
    kept, cancelled_admission = effective_events(events)
    state = EncounterState(cancelled_admission=cancelled_admission)
    for event in kept:
        state = _apply(state, event)
    if state.status == "unknown":
        state = _implied_admission(state, kept)
    if cancelled_admission and state.status in ("unknown", "planned"):
        state = replace(state, status="cancelled", location=None)
    return state


def _implied_admission(state: EncounterState, kept: list[AdtEvent]) -> EncounterState:
    """The latest located inpatient event of a spell with no admission in its history."""
    for event in reversed(kept):
        if event.trigger == "A03":
            return state
        inpatient = event.patient_class in ("I", None) or event.trigger != "A08"
        if event.trigger in IMPLIES_ADMISSION and inpatient and event.location is not None:
            return replace(
                state,
                status="admitted",
                location=event.location,
                location_since=event.event_time,
                patient_class=event.patient_class or "I",
                admitted_at=event.admit_time,
            )
    return state


def _apply(state: EncounterState, event: AdtEvent) -> EncounterState:
    state = replace(
        state,
        patient_id=event.patient_id or state.patient_id,
        nhs_number=event.nhs_number or state.nhs_number,
        last_event_time=event.event_time,
        site=(event.location.site if event.location and event.location.site else state.site),
    )
    if event.trigger in PERSON_ONLY:
        return state
    handler = _HANDLERS.get(event.trigger)
    moved = handler(state, event) if handler else state
    if moved.location != state.location:
        since = event.event_time if moved.location is not None else None
        moved = replace(moved, location_since=since)
    return moved


def _preadmit(state: EncounterState, event: AdtEvent) -> EncounterState:
    if state.status == "ed" and event.trigger == "A14":
        # A pending admission of a patient in ED: the decision to admit (trolley wait starts).
        return replace(state, decision_to_admit_at=state.decision_to_admit_at or event.event_time)
    if state.status in ("unknown", "cancelled"):
        return replace(state, status="planned", patient_class=event.patient_class)
    return state


def _register(state: EncounterState, event: AdtEvent) -> EncounterState:
    """A04: an ED arrival (class E) or an outpatient registration; never a bed."""
    status = "ed" if event.patient_class == "E" else "registered"
    return replace(
        state,
        status=status,
        ed_arrived_at=(state.ed_arrived_at or event.event_time) if status == "ed" else None,
        ed_departed_at=None,
        arrived_at=state.arrived_at or event.event_time,
        patient_class=event.patient_class,
        location=None,
    )


def _admit(state: EncounterState, event: AdtEvent) -> EncounterState:
    admitted_at = _admission_time(state, event)
    return replace(
        _left_ed(state, admitted_at),
        status="admitted",
        location=event.location,
        patient_class=event.patient_class,
        admitted_at=admitted_at,
        discharged_at=None,
        arrived_at=state.arrived_at or event.event_time,
    )


def _admission_time(state: EncounterState, event: AdtEvent) -> datetime:
    """The admit time the message states — unless the patient is in ED and it is not after the
    ED arrival: a FHIR Encounter's period.start (and some PAS's PV1-44) is when the whole
    encounter began, at the ED door; the admission is then the transition itself."""
    stated = event.admit_time
    arrived = state.ed_arrived_at
    if state.status == "ed" and (stated is None or (arrived is not None and stated <= arrived)):
        return event.event_time
    return stated or event.event_time


def _to_outpatient(state: EncounterState, event: AdtEvent) -> EncounterState:
    return replace(state, status="outpatient", location=None, patient_class=event.patient_class)


def _left_ed(state: EncounterState, at: datetime) -> EncounterState:
    """The ED clock stops when the patient is admitted, transferred or discharged (§8)."""
    if state.status != "ed":
        return state
    return replace(state, ed_departed_at=at)


def _move(state: EncounterState, event: AdtEvent) -> EncounterState:
    """A02/A17, and A08 carrying a location (some PAS announce moves only via A08)."""
    if state.status not in ("admitted", "ed") or event.location is None:
        return state
    return replace(state, location=event.location)


def _discharge(state: EncounterState, event: AdtEvent) -> EncounterState:
    discharged_at = event.discharge_time or event.event_time
    return replace(
        _left_ed(state, discharged_at),
        status="discharged",
        location=None,
        pending_discharge=False,
        on_leave=False,
        discharged_at=discharged_at,
    )


def _pending_discharge(state: EncounterState, _: AdtEvent) -> EncounterState:
    return replace(state, pending_discharge=True)


def _leave_start(state: EncounterState, _: AdtEvent) -> EncounterState:
    return replace(state, on_leave=True)


def _leave_end(state: EncounterState, _: AdtEvent) -> EncounterState:
    return replace(state, on_leave=False)


_HANDLERS: dict[str, Callable[[EncounterState, AdtEvent], EncounterState]] = {
    "A05": _preadmit,
    "A14": _preadmit,
    "A04": _register,
    "A01": _admit,
    "A06": _admit,
    "A07": _to_outpatient,
    "A02": _move,
    "A17": _move,
    "A08": _move,
    "A03": _discharge,
    "A16": _pending_discharge,
    "A21": _leave_start,
    "A22": _leave_end,
}
