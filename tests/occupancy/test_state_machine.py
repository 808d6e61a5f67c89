"""The ADT state machine v2 (ADR 0007), table-driven (tests/support/adt_scenarios.py): each
scenario's exact expected state in the order sent — and in EVERY delivery order, with
duplicates (hypothesis)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.occupancy.fold import fold
from tests.support.adt_scenarios import SCENARIOS


def test_there_are_at_least_sixty_scenarios() -> None:
    assert len(SCENARIOS) >= 60, len(SCENARIOS)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_in_sent_order(name: str) -> None:
    events, expect = SCENARIOS[name]
    expect.check(fold(events))


@pytest.mark.parametrize("name", list(SCENARIOS))
@given(order=st.randoms(use_true_random=False), copies=st.lists(st.integers(0, 20), max_size=4))
@settings(max_examples=40, deadline=None)
def test_scenario_in_any_delivery_order_with_duplicates(
    name: str, order: random.Random, copies: list[int]
) -> None:
    """Delivered in any order, some messages twice: the projector stores each (message,
    content) once; the fold of what it stored is the same state."""
    events, expect = SCENARIOS[name]
    delivered = [*events, *(events[n % len(events)] for n in copies)]
    order.shuffle(delivered)
    stored = list({event.dedupe_key: event for event in delivered}.values())
    expect.check(fold(stored))
