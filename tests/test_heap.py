"""The process's garbage collector once it has started (app/heap.py, ADR 0010)."""

from __future__ import annotations

import gc
import re
import weakref

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY

from app import heap
from app.config import Settings
from tests.support.services import running_app


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def unsettled() -> None:
    """Nothing frozen yet, as when a process starts."""
    gc.unfreeze()
    heap.FROZEN.set(0)


def test_settle_collects_first_so_no_garbage_is_frozen_for_ever(unsettled: None) -> None:
    gc.disable()  # nothing collects the cycle before settle does
    try:
        first, second = _Node(), _Node()
        first.other, second.other = second, first  # a cycle: reference counting cannot free it
        alive = weakref.ref(first)
        del first, second
        assert alive() is not None
        frozen = heap.settle()
    finally:
        gc.enable()
    assert alive() is None, "a garbage cycle was frozen instead of collected"
    assert frozen == gc.get_freeze_count() > 0
    assert REGISTRY.get_sample_value("flowcc_gc_frozen_objects") == frozen


def test_garbage_made_after_settling_is_still_collected_unasked(unsettled: None) -> None:
    heap.settle()
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    alive = weakref.ref(first)
    del first, second
    young, middle, _ = gc.get_threshold()
    # allocations enough for a middle collection, with no explicit collect
    kept: list[list[None]] = [[] for _ in range((middle + 2) * young)]
    assert alive() is None, "the collector no longer runs on its own"
    assert len(kept) == (middle + 2) * young


async def test_the_service_settles_its_heap_once_started(
    settings: Settings, unsettled: None
) -> None:
    async with running_app(settings) as app:
        assert isinstance(app, FastAPI)
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            metrics = (await client.get("/metrics")).text
    found = re.search(r"^flowcc_gc_frozen_objects (\S+)$", metrics, re.MULTILINE)
    assert found is not None, "no flowcc_gc_frozen_objects on /metrics"
    assert float(found.group(1)) > 0
