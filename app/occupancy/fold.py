"""Fold an encounter's ADT events into its current state — pure, no I/O (ADR 0007).

Two orders matter, both derived from the events themselves, so the result depends only on the
SET of events and never on the order they arrived:

- the **sequence** is the order the sender recorded its instructions (EVN-2, else MSH-7, else
  the event time). Duplicates are collapsed in it, cancels find their targets in it, and a
  snapshot (A08, a FHIR version) is judged against what was recorded after it;
- the **timeline** is the order things happened (EVN-6, PV1-44/45, ...): the state machine
  runs in it.

Steps: (1) in sequence order, a copy of a live instruction (same content) is a resend and is
dropped; a cancel removes the latest live instruction of its kind recorded before it, and a
copy of that content recorded after the cancel is a new instruction (a clerk's re-entry); a
FHIR entered-in-error version voids everything. (2) In timeline order, each live instruction
changes the state; an A08 corrects location or class only when nothing recorded after it
concerns a time at or before it (it never revives what a later cancel removed, and a back-dated
transfer keyed after it wins). ED attendance is defined by class and place: an arrival in class
E (A04, or an Epic-style A01) starts it; a change to class I or to a non-ED place ends it as an
admission, whatever the trigger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Protocol

from app.occupancy.events import AdtEvent, Location

# Rank within equal times: a cancel comes after what it cancels, a discharge after a move.
TRIGGER_RANK = {"A05": 0, "A14": 0, "A04": 1, "A01": 2, "A06": 3, "A07": 3, "A02": 4, "A17": 4,
                "A15": 4, "A08": 5, "A21": 5, "A22": 6, "A16": 6, "A03": 7}  # fmt: skip
CANCEL_RANK = 8
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
# Each trigger's step of the state machine (a Machine method; looked up per event, not bound
# per Machine: a Machine is made per spell per batch).
STEPS = {"A05": "_preadmit", "A14": "_preadmit", "A04": "_arrive", "A01": "_admit_or_arrive",
         "A06": "_admit", "A07": "_to_outpatient", "A02": "_move", "A17": "_move",
         "A08": "_snapshot", "A03": "_discharge", "A16": "_pending_discharge",
         "A21": "_leave_start", "A22": "_leave_end"}  # fmt: skip
# Person-level, tracking and pending-transfer messages: no change to a spell's place or status.
NO_EFFECT = frozenset({"A28", "A31", "A40", "A09", "A10", "A15", "A44", "A45", "A50"})
STARTS = frozenset({"A01", "A04", "A05", "A06", "A14"})  # a spell known from its beginning
ED_WARDS = frozenset({"ED", "AE", "A&E", "AED", "EMERGENCY", "EMERG"})
# How long an interval a time of each precision stands for (to the minute is precise).
PRECISION = {"second": timedelta(0), "minute": timedelta(0),
             "hour": timedelta(hours=1), "day": timedelta(days=1)}  # fmt: skip


class Places(Protocol):
    """What the fold needs to know about a (mapped) location: is it in ED? None when the place
    is not known (then the patient class decides)."""

    def is_ed(self, location: Location) -> bool | None: ...


class WardNames:
    """Without an economy: a ward code that names an ED is in ED; anything else is unknown."""

    def is_ed(self, location: Location) -> bool | None:
        return True if location.ward.upper() in ED_WARDS else None


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
    # The ED attendance, if this spell had one (domain.md §3, §8).
    ed_arrived_at: datetime | None = None
    ed_departed_at: datetime | None = None
    decision_to_admit_at: datetime | None = None
    expected_discharge_at: datetime | None = None
    imprecise_time: bool = False  # a time known only to the day or hour was used

    @property
    def holds_bed(self) -> bool:
        """Only an admitted patient holds a bed; a patient in ED is in an ED area (a chair, a
        cubicle), counted by the ED figures, never as a G&A bed."""
        return self.status == "admitted" and self.location is not None

    @property
    def in_ed(self) -> bool:
        return self.status == "ed"

    @property
    def ed_area(self) -> str | None:
        """Where in ED: the place's room (PL.2), or its bed/space (a FHIR ED space)."""
        if not self.in_ed or self.location is None:
            return None
        return self.location.bay or self.location.bed or None


_FIELDS = frozenset(f.name for f in fields(EncounterState))


def evolve(state: EncounterState, **changes: object) -> EncounterState:
    """``dataclasses.replace`` five times faster (the fold makes two states per event), with the
    same check of the names."""
    if not _FIELDS.issuperset(changes):
        raise TypeError(f"EncounterState has no field {sorted(set(changes) - _FIELDS)}")
    new = object.__new__(EncounterState)
    new.__dict__.update(state.__dict__, **changes)
    return new


@dataclass(frozen=True)
class Instructions:
    live: list[AdtEvent]
    cancelled: list[tuple[AdtEvent, AdtEvent]]  # (target, the cancel that removed it)
    orphans: list[AdtEvent]  # cancels whose target was never received
    cancelled_admission: bool
    copies: int  # resends collapsed


def sequence_key(event: AdtEvent) -> tuple[datetime, int, str, str]:
    rank = CANCEL_RANK if event.trigger in CANCELS else TRIGGER_RANK.get(event.trigger, 5)
    return (event.sequence, rank, event.source, event.message_id)


def instructions(events: Iterable[AdtEvent]) -> Instructions:
    """Step 1: the live instructions after resends are collapsed and cancels applied."""
    live: list[AdtEvent] = []
    seen: set[str] = set()
    cancelled: list[tuple[AdtEvent, AdtEvent]] = []
    orphans: list[AdtEvent] = []
    admission_cancelled = False
    copies = 0
    for event in sorted(events, key=sequence_key):
        if event.voids_encounter:
            cancelled += [(target, event) for target in live]
            live, seen, admission_cancelled = [], set(), True
            continue
        targets = CANCELS.get(event.trigger)
        if targets is None:
            content = event.content_key  # a property that builds a string: read once
            if content in seen:
                copies += 1
                continue
            seen.add(content)
            live.append(event)
            continue
        target = next((e for e in reversed(live) if e.trigger in targets), None)
        if target is None:
            orphans.append(event)
            admission_cancelled |= event.trigger == "A11"
            continue
        live.remove(target)
        seen.discard(target.content_key)  # a copy recorded from now on is a re-entry
        cancelled.append((target, event))
        admission_cancelled |= event.trigger == "A11"
    return Instructions(live, cancelled, orphans, admission_cancelled, copies)


def fold(events: Iterable[AdtEvent], places: Places | None = None) -> EncounterState:
    events = list(events)
    if events and ":MR:" in events[0].encounter_key:
        events = current_episode(events, places)
    return _fold(events, places)


def current_episode(events: list[AdtEvent], places: Places | None = None) -> list[AdtEvent]:
    """A feed without PV1-19 keys every visit of a patient by the MRN: Monday's ED visit and
    Wednesday's are one history. An A01/A04 after the spell so far has ended (discharged or
    cancelled, in the sender's sequence) starts a new episode; the state is the last one's."""
    ordered = sorted(events, key=sequence_key)
    start = 0
    for n, event in enumerate(ordered):
        starts = n > start and event.trigger in ("A01", "A04")
        if starts and _fold(ordered[start:n], places).status in ("discharged", "cancelled"):
            start = n
    return ordered[start:]


def _fold(events: list[AdtEvent], places: Places | None) -> EncounterState:
    return settle(*run(events, places))


def run(
    events: list[AdtEvent], places: Places | None
) -> tuple[EncounterState, Instructions, Machine]:
    """Steps 1 and 2: the state machine's state after every live instruction, in the timeline
    (before ``settle``)."""
    steps = instructions(events)
    machine = Machine(places or WardNames(), steps, events)
    state = EncounterState(cancelled_admission=steps.cancelled_admission)
    for event in sorted([*steps.live, *_orphan_snapshots(steps)], key=machine.timeline_key):
        state = machine.apply(state, event)
    return state, steps, machine


def settle(state: EncounterState, steps: Instructions, machine: Machine) -> EncounterState:
    """What the whole history implies beyond its instructions: an admission implied by a spell
    first seen mid-stay, a cancelled admission."""
    if state.status == "unknown" and not steps.cancelled_admission:
        state = machine.implied_admission(state)
    if steps.cancelled_admission and state.status in ("unknown", "planned"):
        state = evolve(state, status="cancelled", location=None)
    return state


def _orphan_snapshots(steps: Instructions) -> list[AdtEvent]:
    """An A12/A13 whose transfer/discharge never arrived still states where the patient is
    (its PV1-3): read as a snapshot at its time."""
    return [
        event.model_copy(update={"trigger": "A08"})
        for event in steps.orphans
        if event.trigger in ("A12", "A13") and event.location is not None
    ]


class Machine:
    def __init__(self, places: Places, steps: Instructions, events: list[AdtEvent]) -> None:
        self.places = places
        self.steps = steps
        self.precise = sorted(e.event_time for e in events if not PRECISION[e.time_precision])

    # ------------------------------------------------------------------ ordering

    def when(self, event: AdtEvent) -> datetime:
        """The event's time on the timeline. A time known only to the day (or hour) never sorts
        before a precise time within that day (hour): it is read as no earlier than the last
        precise event inside its interval (a date-only PV1-45 is not midnight)."""
        step = PRECISION[event.time_precision]
        if not step:
            return event.event_time
        end = event.event_time + step
        inside = [t for t in self.precise if event.event_time <= t < end]
        return max([event.event_time, *inside])

    def timeline_key(self, event: AdtEvent) -> tuple[datetime, int, datetime, str, str]:
        rank = TRIGGER_RANK.get(event.trigger, 5)
        return (self.when(event), rank, event.sequence, event.source, event.message_id)

    # ------------------------------------------------------------------ the state machine

    def apply(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        at = self.when(event)
        state = evolve(
            state,
            patient_id=event.patient_id or state.patient_id,
            nhs_number=event.nhs_number or state.nhs_number,
            last_event_time=at,
            site=(event.location.site if event.location and event.location.site else state.site),
            expected_discharge_at=event.expected_discharge_at or state.expected_discharge_at,
            imprecise_time=state.imprecise_time or bool(PRECISION[event.time_precision]),
        )
        step = STEPS.get(event.trigger)
        if step is None or event.trigger in NO_EFFECT:
            return state
        moved: EncounterState = getattr(self, step)(state, event)
        if moved.location != state.location:
            moved = evolve(moved, location_since=at if moved.location is not None else None)
        return moved

    def in_ed_place(self, event: AdtEvent) -> bool:
        """Is the event about an ED attendance: class E, or a place that is in ED?"""
        if event.patient_class == "E":
            return True
        return event.location is not None and self.places.is_ed(event.location) is True

    def leaves_ed(self, event: AdtEvent) -> bool:
        """A change to class I, or to a place known not to be in ED, ends the attendance."""
        if event.patient_class == "I":
            return True
        return event.location is not None and self.places.is_ed(event.location) is False

    def _preadmit(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        if state.in_ed and event.trigger == "A14":
            # A pending admission of a patient in ED: the decision to admit (trolley wait).
            at = self.when(event)
            return evolve(state, decision_to_admit_at=state.decision_to_admit_at or at)
        if state.status in ("unknown", "cancelled"):
            return evolve(state, status="planned", patient_class=event.patient_class)
        return state

    def _arrive(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        """An ED arrival (class E or an ED place), or an outpatient registration: no bed."""
        at = self.when(event)
        if not self.in_ed_place(event):
            return evolve(state, status="registered", location=None,
                           patient_class=event.patient_class,
                           arrived_at=state.arrived_at or at)  # fmt: skip
        if state.status in ("admitted", "discharged"):
            return state  # an arrival keyed after the attendance ended changes nothing
        return evolve(
            state,
            status="ed",
            ed_arrived_at=min(filter(None, (state.ed_arrived_at, at))),
            ed_departed_at=None,
            arrived_at=state.arrived_at or at,
            patient_class=event.patient_class or "E",
            location=event.location,
        )

    def _admit_or_arrive(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        """A01: an admission; in class E, or at an ED place without class I (Epic and others),
        the start of an ED attendance."""
        if event.patient_class != "I" and self.in_ed_place(event):
            return self._arrive(state, event)
        return self._admit(state, event)

    def _admit(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        admitted_at = self._admission_time(state, event)
        return evolve(
            _left_ed(state, admitted_at),
            status="admitted",
            location=event.location,
            patient_class=event.patient_class or "I",
            admitted_at=admitted_at,
            discharged_at=None,
            arrived_at=state.arrived_at or self.when(event),
        )

    def _admission_time(self, state: EncounterState, event: AdtEvent) -> datetime:
        """The admit time the message states — unless the patient is in ED and it does not lie
        between the ED arrival and the message's own event time: a FHIR Encounter's
        period.start (and some PAS's PV1-44) is when the whole encounter began, at the ED door,
        and an admission cannot follow the message announcing it; the admission is then the
        transition itself."""
        stated, at = event.admit_time, self.when(event)
        arrived = state.ed_arrived_at
        if state.in_ed and (
            stated is None or stated > at or (arrived is not None and stated <= arrived)
        ):
            return at
        return stated or at

    def _to_outpatient(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        return evolve(state, status="outpatient", location=None, patient_class=event.patient_class)

    def _move(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        """A02/A17, and an A08 that holds: a move within ED stays in ED; a change to class I or
        to a place outside ED ends the attendance as an admission (domain.md §6.3)."""
        if event.location is None and event.patient_class in (None, state.patient_class):
            return state
        if state.in_ed:
            if not self.leaves_ed(event):
                return evolve(state, location=event.location or state.location)
            return self._admit(state, event.model_copy(update={"admit_time": None}))
        if state.status != "admitted" or event.location is None:
            return state
        return evolve(state, location=event.location)

    def _snapshot(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        """A08 (and an orphan A12/A13): the sender's picture when it was recorded. It corrects
        place and class where they disagree — unless something recorded after it concerns a
        time at or before it, which the picture could not show."""
        if state.status not in ("admitted", "ed") or self.stale(event):
            return state
        return self._move(state, event)

    def stale(self, snapshot: AdtEvent) -> bool:
        at, recorded = self.when(snapshot), snapshot.sequence
        later = (
            e
            for e in self.steps.live
            if e.trigger != "A08" and e.sequence > recorded and self.when(e) <= at
        )
        undone = (
            target
            for target, cancel in self.steps.cancelled
            if cancel.sequence > recorded and self.when(target) <= at
        )
        return next(later, None) is not None or next(undone, None) is not None

    def _discharge(self, state: EncounterState, event: AdtEvent) -> EncounterState:
        discharged_at = event.discharge_time or self.when(event)
        return evolve(
            _left_ed(state, discharged_at),
            status="discharged",
            location=None,
            pending_discharge=False,
            on_leave=False,
            discharged_at=discharged_at,
        )

    def _pending_discharge(self, state: EncounterState, _: AdtEvent) -> EncounterState:
        return evolve(state, pending_discharge=True)

    def _leave_start(self, state: EncounterState, _: AdtEvent) -> EncounterState:
        return evolve(state, on_leave=True)

    def _leave_end(self, state: EncounterState, _: AdtEvent) -> EncounterState:
        return evolve(state, on_leave=False)

    def implied_admission(self, state: EncounterState) -> EncounterState:
        """A spell first seen mid-stay (we joined the feed late, or its admission was lost): the
        latest located inpatient event shows the bed as occupied rather than free with a
        patient in it. Never for a spell whose start is on record, never in class E."""
        if any(e.trigger in STARTS for e in self.steps.live):
            return state
        located = [
            e
            for e in [*self.steps.live, *_orphan_snapshots(self.steps)]
            if e.location is not None
            and e.trigger not in ("A03", *NO_EFFECT)
            and e.patient_class in ("I", None)
            and not self.in_ed_place(e)
            and not (e.trigger == "A08" and self.stale(e))
        ]
        if not located or any(e.trigger == "A03" for e in self.steps.live):
            return state
        latest = max(located, key=self.timeline_key)
        return evolve(
            state,
            status="admitted",
            location=latest.location,
            location_since=self.when(latest),
            patient_class=latest.patient_class or "I",
            admitted_at=latest.admit_time,
        )


def _left_ed(state: EncounterState, at: datetime) -> EncounterState:
    """The ED clock stops when the patient is admitted, transferred or discharged (§8)."""
    if not state.in_ed:
        return state
    return evolve(state, ed_departed_at=at)
