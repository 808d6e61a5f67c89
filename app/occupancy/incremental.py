"""Advance a spell's folded state by the events that come after everything it has seen, without
reading its history back (ADR 0008).

The fold (app/occupancy/fold.py) depends only on the SET of a spell's events. Appending an
event to the state gives that same answer exactly when the event changes nothing the fold
decided before it — which holds when the history so far is "plain" (no cancelled admission,
every time precise, not keyed by MRN, an outcome of its own instructions rather than implied)
and the new event is a plain instruction that comes last in both of the fold's orders:

- last in the **sequence** (its sequence key after every stored one): it cancels nothing and
  no earlier cancel or snapshot is judged differently because of it;
- strictly last on the **timeline** (its time after every stored one): no stored A08 becomes
  stale because of it, it is no copy of a live instruction (a copy has the same time), and the
  machine applies it last;
- not a cancel, not a voiding FHIR version, with a precise time.

Everything else — an out-of-order event, a cancel, a correction, a new location mapping or bed
master (the ``places`` digest) — re-folds the whole history. ``Mark`` is where a plain fold ends;
``None`` means the next event must re-fold. tests/occupancy/test_incremental_fold.py proves
advance == full fold for every scenario and delivery order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter

from app.occupancy.events import AdtEvent
from app.occupancy.fold import (
    CANCELS,
    PRECISION,
    EncounterState,
    Instructions,
    Machine,
    Places,
    WardNames,
    fold,
    run,
    sequence_key,
    settle,
)

NOTHING = Instructions(live=[], cancelled=[], orphans=[], cancelled_admission=False, copies=0)


@dataclass(frozen=True)
class Mark:
    """Where a plain fold ends: its last sequence key and event time, and the places it was
    folded with."""

    sequence: tuple[datetime, int, str, str]
    time: datetime
    places: str


@dataclass(frozen=True)
class Folded:
    state: EncounterState
    mark: Mark | None  # None: the next event re-folds the history
    source: str  # the sender of the spell's first instruction (its PV1-3's default site)


ADAPTER: TypeAdapter[Folded] = TypeAdapter(Folded)


def fold_marked(
    events: Sequence[AdtEvent], places: Places | None = None, digest: str = ""
) -> Folded:
    """The full fold of a history, with its mark when the history is plain."""
    events = list(events)
    source = min(events, key=sequence_key).source if events else ""
    if not events or ":MR:" in events[0].encounter_key:  # fold picks the current episode
        return Folded(fold(events, places), None, source)
    raw, steps, machine = run(events, places)
    state = settle(raw, steps, machine)
    plain = (
        raw.status != "unknown"
        and not steps.cancelled_admission
        and not any(PRECISION[e.time_precision] for e in events)
    )
    mark = None
    if plain:
        last = max(events, key=sequence_key)
        mark = Mark(sequence_key(last), max(e.event_time for e in events), digest)
    return Folded(state, mark, source)


def advance(
    folded: Folded, new: Sequence[AdtEvent], places: Places | None = None, digest: str = ""
) -> Folded | None:
    """The fold of the history plus ``new``, from the folded state alone; None when any new
    event needs the history (then re-fold it)."""
    mark = folded.mark
    if mark is None or mark.places != digest:
        return None
    machine = Machine(places or WardNames(), NOTHING, [])
    state = folded.state
    for event in sorted(new, key=sequence_key):
        key = sequence_key(event)
        if (
            event.trigger in CANCELS
            or event.voids_encounter
            or PRECISION[event.time_precision]
            or key <= mark.sequence
            or event.event_time <= mark.time
        ):
            return None
        state = machine.apply(state, event)  # never back to "unknown": it stays plain
        mark = Mark(key, event.event_time, digest)
    return Folded(state, mark, folded.source)


def dump(folded: Folded) -> str | None:
    """What the encounter row keeps, as JSON text (PostgreSQL casts it; only a plain fold is
    worth keeping)."""
    if folded.mark is None:
        return None
    # Without the fields at their defaults (``load`` restores them): 626 → 394 bytes for a
    # discharged spell, a smaller row to write and less JSON to parse on its next event.
    return ADAPTER.dump_json(folded, exclude_defaults=True).decode()


def load(stored: str | None) -> Folded | None:
    """What ``dump`` kept (JSON text: pydantic parses and validates it in one pass)."""
    return None if stored is None else ADAPTER.validate_json(stored)
