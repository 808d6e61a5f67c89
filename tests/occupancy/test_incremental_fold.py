"""The incremental fold (ADR 0008): advancing a spell's stored state by the events of each new
batch gives exactly the full fold of everything stored — for every scenario of the state
machine and random histories, in every delivery order, batching and with copies; and it is
taken for events that arrive in order (else it would prove nothing)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.occupancy.events import AdtEvent
from app.occupancy.fold import WardNames, fold
from app.occupancy.incremental import Folded, advance, dump, fold_marked, load
from tests.support.adt_scenarios import SCENARIOS, ed, ev

DIGEST = "places-1"


def deliver(batches: Sequence[Sequence[AdtEvent]]) -> tuple[Folded | None, int]:
    """What the projector does batch by batch: store what is new (by dedupe key), advance the
    stored fold when it can, else re-fold the stored history; the fold goes through the
    encounter row's JSON. Returns the last fold and how many batches advanced."""
    stored: dict[str, AdtEvent] = {}
    folded: Folded | None = None
    advanced = 0
    for batch in batches:
        new = {e.dedupe_key: e for e in batch if e.dedupe_key not in stored}
        if not new:
            continue
        stored.update(new)
        step = advance(folded, list(new.values()), WardNames(), DIGEST) if folded else None
        if step is None:
            step = fold_marked(list(stored.values()), WardNames(), DIGEST)
        else:
            advanced += 1
        text = dump(step)  # as the row keeps it, and reads it back
        folded = load(text) or step
    return folded, advanced


def batched(events: list[AdtEvent], order: random.Random) -> list[list[AdtEvent]]:
    batches: list[list[AdtEvent]] = []
    for event in events:
        if not batches or order.random() < 0.6:
            batches.append([])
        batches[-1].append(event)
    return batches


def check(events: list[AdtEvent], order: random.Random, copies: list[int]) -> None:
    delivered = [*events, *(events[n % len(events)] for n in copies)]
    order.shuffle(delivered)
    folded, _ = deliver(batched(delivered, order))
    stored = list({e.dedupe_key: e for e in delivered}.values())
    assert folded is not None
    assert folded.state == fold(stored, WardNames())


@pytest.mark.parametrize("name", list(SCENARIOS))
@given(order=st.randoms(use_true_random=False), copies=st.lists(st.integers(0, 20), max_size=3))
@settings(max_examples=25, deadline=None)
def test_every_scenario_in_any_delivery_order_and_batching(
    name: str, order: random.Random, copies: list[int]
) -> None:
    check(SCENARIOS[name][0], order, copies)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_in_sent_order_one_event_a_batch(name: str) -> None:
    events = SCENARIOS[name][0]
    folded, _ = deliver([[e] for e in events])
    assert folded is not None
    assert folded.state == fold(events, WardNames())


TRIGGERS = ["A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A14",
            "A16", "A17", "A21", "A22", "A25", "A27", "A52", "A53", "A09", "A15"]  # fmt: skip


@st.composite
def histories(draw: st.DrawFn) -> list[AdtEvent]:
    """A spell's events: triggers of every kind, in ED or on wards, classes, recorded in or out
    of order, some times known only to the hour or day."""
    events = []
    for n in range(draw(st.integers(1, 9))):
        trigger = draw(st.sampled_from(TRIGGERS))
        minute = draw(st.integers(0, 600))
        lag = draw(st.sampled_from([0, 0, 0, 5, -30, 120]))
        precision = draw(st.sampled_from(["second"] * 6 + ["hour", "day"]))
        if draw(st.booleans()):
            made = ed(trigger, minute, draw(st.sampled_from(["MAJ", "RES"])), rec=minute + lag)
        else:
            bed = draw(st.sampled_from(["B01", "B02", None]))
            cls = draw(st.sampled_from(["I", "I", "E", None]))
            made = ev(trigger, minute, bed=bed, cls=cls, rec=minute + lag, mid=f"h{n}")
        events.append(made.model_copy(update={"time_precision": precision}))
    return events


@given(histories(), st.randoms(use_true_random=False), st.lists(st.integers(0, 9), max_size=3))
@settings(max_examples=600, deadline=None)
def test_any_history_in_any_delivery_order_and_batching(
    events: list[AdtEvent], order: random.Random, copies: list[int]
) -> None:
    check(events, order, copies)


def test_events_in_order_advance_without_the_history() -> None:
    """The point of it: a spell's admission, moves, snapshot and discharge, each in its own
    batch, are each applied to the stored state."""
    events = [ev("A01", 0), ev("A02", 60, bed="B05"), ev("A08", 90, bed="B05"),
              ev("A16", 100, bed="B05"), ev("A03", 120, bed=None)]  # fmt: skip
    folded, advanced = deliver([[e] for e in events])
    assert advanced == 4
    assert folded is not None
    assert folded.state == fold(events)
    ed_spell = [ed("A04", 0), ed("A02", 30, "RES"), ed("A14", 120, "RES"), ev("A06", 200)]
    assert deliver([[e] for e in ed_spell])[1] == 3


def test_most_scenarios_in_sent_order_advance() -> None:
    """Sent in order one a batch, the scenarios' later events mostly advance (the ones that
    cannot are cancels, corrections recorded late, imprecise times and MRN-keyed spells)."""
    steps = advanced = 0
    for events, _ in SCENARIOS.values():
        steps += len(events) - 1
        advanced += deliver([[e] for e in events])[1]
    assert advanced >= steps * 0.4, (advanced, steps)


@pytest.mark.parametrize(
    "late",
    [
        ev("A12", 70),  # a cancel
        ev("A02", 30, bed="B07"),  # back-dated: before the last event
        ev("A02", 90, rec=50, bed="B07"),  # recorded before the last instruction
        ev("A02", 90, bed="B07").model_copy(update={"time_precision": "day"}),
        ev("A02", 60, bed="B05", mid="resend"),  # a copy: the same time
    ],
)
def test_what_needs_the_history_is_refused(late: AdtEvent) -> None:
    folded = fold_marked([ev("A01", 0), ev("A02", 60, bed="B05")], WardNames(), DIGEST)
    assert folded.mark is not None
    assert advance(folded, [late], WardNames(), DIGEST) is None
    assert advance(folded, [ev("A02", 61, bed="B07")], WardNames(), "places-2") is None


def test_a_history_that_is_not_plain_has_no_mark() -> None:
    for events in (
        [ev("A01", 0), ev("A11", 5)],  # a cancelled admission
        [ev("A05", 0), ev("A01", 10), ev("A11", 20)],  # planned, its admission cancelled
        [ev("A02", 0)],  # first seen mid-stay: an implied admission
        [ev("A01", 0).model_copy(update={"time_precision": "day"})],
        [ev("A01", 0).model_copy(update={"encounter_key": "RAN:MR:MRN1"})],
    ):
        assert fold_marked(events, WardNames(), DIGEST).mark is None


def test_a_later_preadmission_after_a_cancelled_admission() -> None:
    """The history's cancelled admission still decides the state after a later A05."""
    events = [ev("A05", 0), ev("A01", 10), ev("A11", 20), ev("A05", 30)]
    folded, _ = deliver([events[:3], events[3:]])
    assert folded is not None
    assert folded.state == fold(events)
    assert folded.state.status == "cancelled"
