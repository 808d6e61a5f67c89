"""The fold: an encounter's state depends only on the SET of its events."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from app.occupancy.events import AdtEvent
from app.occupancy.fold import fold
from tests.factories import event


def bed_of(events: list[AdtEvent]) -> str | None:
    state = fold(events)
    return state.location.bed if state.holds_bed and state.location else None


def test_admit_transfer_discharge() -> None:
    admit, move, leave = event("A01", 0), event("A02", 60, bed="B05"), event("A03", 120, bed=None)
    assert bed_of([admit]) == "B01"
    assert bed_of([admit, move]) == "B05"
    assert fold([admit, move, leave]).status == "discharged"
    assert bed_of([admit, move, leave]) is None


def test_late_discharge_before_its_transfer_arrives() -> None:
    """An A03 delivered before the A02 that precedes it in event time."""
    admit, move, leave = event("A01", 0), event("A02", 60, bed="B05"), event("A03", 120, bed=None)
    assert fold([leave, admit, move]) == fold([admit, move, leave])


def test_cancel_transfer_returns_to_the_previous_bed() -> None:
    admit, move = event("A01", 0), event("A02", 60, bed="B05")
    cancel = event("A12", 60, bed="B01")
    assert bed_of([admit, move, cancel]) == "B01"


def test_cancel_discharge_reoccupies_the_bed() -> None:
    admit, leave, undo = event("A01", 0), event("A03", 120, bed=None), event("A13", 125)
    state = fold([admit, leave, undo])
    assert state.status == "admitted"
    assert bed_of([admit, leave, undo]) == "B01"


def test_a13_arriving_after_the_a03_and_a_later_update() -> None:
    admit, leave = event("A01", 0), event("A03", 120, bed=None)
    undo = event("A13", 121)
    assert bed_of([undo, leave, admit]) == "B01"


def test_cancel_admit_leaves_no_bed() -> None:
    state = fold([event("A01", 0), event("A11", 5)])
    assert state.status == "cancelled"
    assert not state.holds_bed


def test_a08_carrying_a_new_location_moves_the_patient() -> None:
    assert bed_of([event("A01", 0), event("A08", 30, bed="B09")]) == "B09"


def test_a08_after_discharge_does_not_reoccupy() -> None:
    assert bed_of([event("A01", 0), event("A03", 60, bed=None), event("A08", 90)]) is None


def test_ed_registration_holds_no_bed() -> None:
    state = fold([event("A04", 0, cls="E", ward="ED", bed="MAJ01")])
    assert state.status == "ed"
    assert not state.holds_bed


def test_leave_of_absence_keeps_the_bed() -> None:
    state = fold([event("A01", 0), event("A21", 30)])
    assert state.on_leave
    assert bed_of([event("A01", 0), event("A21", 30)]) == "B01"
    assert not fold([event("A01", 0), event("A21", 30), event("A22", 90)]).on_leave


TRIGGERS = ["A01", "A02", "A03", "A08", "A11", "A12", "A13", "A16", "A21", "A22", "A25"]


@st.composite
def histories(draw: st.DrawFn) -> list[AdtEvent]:
    count = draw(st.integers(min_value=1, max_value=10))
    events = [event("A01", 0, message_id="admit")]
    for index in range(count):
        trigger = draw(st.sampled_from(TRIGGERS))
        minute = draw(st.integers(min_value=0, max_value=600))
        bed = draw(st.sampled_from(["B01", "B02", "B03", None]))
        events.append(event(trigger, minute, bed=bed, message_id=f"e{index}"))
    return events


@given(histories(), st.randoms(use_true_random=False), st.integers(min_value=0, max_value=5))
@settings(max_examples=300, deadline=None)
def test_any_permutation_with_duplicates_gives_the_same_state(
    history: list[AdtEvent], shuffle: random.Random, duplicates: int
) -> None:
    """Property (issue 3): permuted delivery with duplicates == each event once, in order.

    Duplicates are removed the way the projector does it (by dedupe_key) before folding."""
    once_in_order = fold(list({e.dedupe_key: e for e in history}.values()))
    delivered = history + [shuffle.choice(history) for _ in range(duplicates)]
    shuffle.shuffle(delivered)
    unique = list({e.dedupe_key: e for e in delivered}.values())
    assert fold(unique) == once_in_order


def test_location_since_is_when_the_patient_came_to_the_current_bed_in_any_delivery_order() -> None:
    """Moved away and back: the bed's 'occupied since' is the return, however events arrive
    (this decides the board's occupied-since, batch after batch or all at once)."""
    first = event("A01", 0, bed="B12")
    away = event("A01", 60, bed="B03")  # a FHIR-style whole-state version in another bed
    back = event("A01", 120, bed="B12")
    update = event("A08", 180, bed="B12")  # no move: the time stays
    for order in ([first, away, back, update], [update, back, first, away]):
        state = fold(order)
        assert state.location is not None
        assert state.location.bed == "B12"
        assert state.location_since == back.event_time
    assert fold([first, update]).location_since == first.event_time


def test_admission_from_ed_stops_the_ed_clock_at_the_transition_not_the_encounter_start() -> None:
    """A FHIR Encounter's period.start is the ED arrival; its in-progress version (→ A01) must
    not date the admission — or the ED stay — back to the door (the 4-hour figure would be
    100 % for a FHIR trust)."""
    arrival = event("A04", 0, cls="E", ward="ED", bed="MAJ01")
    admit = event("A01", 300).model_copy(update={"admit_time": arrival.event_time})
    state = fold([arrival, admit])
    assert state.ed_departed_at == admit.event_time
    assert state.admitted_at == admit.event_time
    # An admit time stated after the arrival (HL7 PV1-44 on an A06) is the admission.
    stated = event("A06", 310).model_copy(update={"admit_time": admit.event_time})
    assert fold([arrival, stated]).ed_departed_at == admit.event_time
