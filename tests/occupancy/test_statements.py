"""A batch's statements are the same text whatever its size: each connection prepares a
statement once and reuses it (a list rendered with one parameter per value was a new statement,
and a round trip to prepare it, for every new batch size: a quarter of a batch's statements)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.occupancy.events import AdtEvent, Location
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from tests.engine.flow_support import World, make_world


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _batch(world: World, engine: AsyncEngine, events: list[AdtEvent]) -> list[str]:
    with statements(engine) as seen:
        async with world.sessionmaker() as session, session.begin():
            projector = OccupancyProjector(OccupancyRepository(session))
            await projector.apply_all(events)
            await projector.deltas()
    return seen


def _events(trigger: str, visits: range, world: World) -> list[AdtEvent]:
    at = world.clock.now() - timedelta(hours=1)
    return [
        AdtEvent(
            source="TEST",
            message_id=f"{trigger}-{n}",
            trigger=trigger,
            event_time=at + timedelta(minutes=trigger == "A03"),
            time_source="EVN-6",
            encounter_key=f"TEST:V{n}",
            patient_id=f"P{n}",
            patient_class="I",
            location=Location(ward="W1", bed=f"B{n:02d}", site="T1"),
        )
        for n in visits
    ]


async def test_a_batch_of_two_and_a_batch_of_seven_run_the_same_statements(
    clean_db: AsyncEngine,
) -> None:
    world = await make_world(clean_db)
    admit_two = await _batch(world, clean_db, _events("A01", range(1, 3), world))
    admit_seven = await _batch(world, clean_db, _events("A01", range(3, 10), world))
    discharge_two = await _batch(world, clean_db, _events("A03", range(1, 3), world))
    discharge_seven = await _batch(world, clean_db, _events("A03", range(3, 10), world))
    assert admit_two == admit_seven
    assert discharge_two == discharge_seven
    assert len(admit_two) >= 8  # the whole projection, not a batch that did nothing
