"""A batch's statements are the same text whatever its size: each connection prepares a
statement once and reuses it (a list rendered with one parameter per value was a new statement,
and a round trip to prepare it, for every new batch size: a quarter of a batch's statements)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.occupancy.events import AdtEvent, Location
from app.occupancy.fold import EncounterState
from app.occupancy.incremental import Folded
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository, spell_row
from app.occupancy.statements import SPELL_ROW_COLUMNS
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


async def test_no_statement_of_a_batch_searches_an_array_row_by_row_in_its_generic_plan(
    clean_db: AsyncEngine,
) -> None:
    """After five runs PostgreSQL may keep a prepared statement's generic plan. There ``= ANY``
    of an array parameter in a scan's filter is searched value by value for every row read (a
    constant array is hashed, so the first five runs do not show it): locking a batch's beds
    went from 1 to 27 ms on the sixth run. Every statement of a batch, in its generic plan, either
    reads through an index or tests a hashed set."""
    world = await make_world(clean_db)
    await _batch(world, clean_db, _events("A01", range(1, 4), world))
    seen = await _batch(world, clean_db, _events("A02", range(1, 4), world))
    seen += await _batch(world, clean_db, _events("A03", range(1, 4), world))
    plans: dict[str, str] = {}
    async with clean_db.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        for n, sql in enumerate(dict.fromkeys(seen)):
            await raw.execute(f"PREPARE s{n} AS {sql}")  # as text: no values bound
            nulls = ", ".join(["NULL"] * len(set(re.findall(r"\$(\d+)", sql))))
            rows = await raw.fetch(f"EXPLAIN EXECUTE s{n}" + (f"({nulls})" if nulls else ""))
            plans[sql] = "\n".join(row[0] for row in rows)
        await connection.rollback()
    linear = {
        sql: plan
        for sql, plan in plans.items()
        if any(
            "Filter:" in line and re.search(r"(ANY|ALL) \(+\$\d", line)
            for line in plan.splitlines()
        )
    }
    assert any("FOR UPDATE" in sql and "FROM beds" in sql for sql in plans)  # the beds' lock
    assert not linear, "\n\n".join(f"{sql}\n{plan}" for sql, plan in linear.items())


def test_a_spell_row_has_exactly_the_columns_its_update_writes() -> None:
    """The batch's UPDATE takes each column by name (SPELL_ROW_COLUMNS): a column added to the
    row and not to the statement would never be written."""
    row = spell_row("TEST:V1", Folded(EncounterState(), None, "T1"), "T1", None, 0, None)
    assert list(row) == SPELL_ROW_COLUMNS
