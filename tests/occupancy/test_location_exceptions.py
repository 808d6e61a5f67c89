"""A location the bed master does not know is listed (never dropped), and resolved once its spell
is placed — the same whether the events came in one batch or in several."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.occupancy.events import AdtEvent, Location
from app.occupancy.models import LocationException
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from app.topology.models import Bed
from tests.engine.flow_support import World, make_world


def _event(world: World, n: int, trigger: str, visit: str, bed: str) -> AdtEvent:
    return AdtEvent(
        source="TEST",
        message_id=f"m{visit}{n}",
        trigger=trigger,
        event_time=world.clock.now() - timedelta(hours=2) + timedelta(minutes=n),
        time_source="EVN-6",
        encounter_key=f"TEST:{visit}",
        patient_id=f"P{visit}",
        patient_class="I",
        location=Location(ward="W1", bed=bed, site="T1"),
    )


async def _apply(world: World, events: list[AdtEvent]) -> None:
    async with world.sessionmaker() as session, session.begin():
        await OccupancyProjector(OccupancyRepository(session)).apply_all(events)


async def _exceptions(world: World) -> list[tuple[Any, ...]]:
    async with world.sessionmaker() as session:
        rows = await session.execute(
            select(
                LocationException.encounter_id,
                LocationException.location_text,
                LocationException.detail,
                LocationException.resolved_at.is_not(None),
            ).order_by(LocationException.id)
        )
        return [tuple(row) for row in rows]


async def test_an_unknown_bed_then_a_known_one_is_resolved_in_one_batch_as_in_two(
    clean_db: AsyncEngine,
) -> None:
    world = await make_world(clean_db)
    await _apply(world, [_event(world, 0, "A01", "a", "X99")])  # apart: two batches
    await _apply(world, [_event(world, 1, "A02", "a", "B01")])
    await _apply(world, [_event(world, 0, "A01", "b", "X98"), _event(world, 1, "A02", "b", "B02")])
    apart, together = await _exceptions(world)
    assert apart[0] == "TEST:a"
    assert together[0] == "TEST:b"
    assert apart[2:] == together[2:] == ("not in the bed master", True)  # listed, resolved


class _Failing(OccupancyRepository):
    """The real repository, with a bug an attempt meets while ``failing``."""

    failing = False


async def _fail_then_apply(
    session: AsyncSession, repository: _Failing, fail: list[AdtEvent], apply: list[AdtEvent]
) -> OccupancyProjector:
    """As the consumer's retry of a refused batch's parts: an attempt that raises is rolled
    back to its SAVEPOINT, then one that does not is applied."""
    projector = OccupancyProjector(repository)
    repository.failing = True
    with contextlib.suppress(KeyError):
        async with session.begin_nested():
            await projector.apply_all(fail)
    repository.failing = False
    async with session.begin_nested():
        await projector.apply_all(apply)
    return projector


class _FailsAtTheBeds(_Failing):
    """A bug met after an event's exception rows are noted."""

    async def lock_beds(self, *, bed_ids: Sequence[str | None], held_by: Sequence[str]) -> Any:
        if self.failing:
            raise KeyError("a bug")
        return await super().lock_beds(bed_ids=bed_ids, held_by=held_by)


async def test_the_rows_of_an_attempt_rolled_back_are_never_written(clean_db: AsyncEngine) -> None:
    """An attempt that raises is rolled back to its SAVEPOINT, and the exception rows it noted
    go with it."""
    world = await make_world(clean_db)
    async with world.sessionmaker() as session, session.begin():
        await _fail_then_apply(
            session,
            _FailsAtTheBeds(session),
            [_event(world, 0, "A01", "lost", "X97")],
            [_event(world, 0, "A01", "kept", "X96")],
        )
    assert [row[0] for row in await _exceptions(world)] == ["TEST:kept"]


class _FailsAfterTheBeds(_Failing):
    """A bug met after the beds are moved (in memory, not yet flushed)."""

    async def write_exceptions(self) -> None:
        if self.failing:
            raise KeyError("a bug")
        await super().write_exceptions()


async def _bed_rows(session: Any) -> dict[str, tuple[Any, ...]]:
    rows = await session.execute(
        select(Bed.id, Bed.occupant_encounter_id.is_not(None), Bed.occupied_since)
    )
    return {row[0]: (row[1], row[2].isoformat() if row[2] else None) for row in rows}


async def test_the_beds_published_after_an_attempt_rolled_back_are_the_beds_committed(
    clean_db: AsyncEngine,
) -> None:
    """An attempt that moved beds and then raised is rolled back to its SAVEPOINT; the batch's
    bed deltas are then what commits — not what the rolled-back attempt left in memory."""
    world = await make_world(clean_db)
    await _apply(world, [_event(world, 0, "A01", "held", "B03")])  # a bed the attempt vacates
    async with world.sessionmaker() as session, session.begin():
        projector = await _fail_then_apply(
            session,
            _FailsAfterTheBeds(session),
            [_event(world, 1, "A01", "lost", "B01"), _event(world, 2, "A02", "held", "B04")],
            [_event(world, 3, "A01", "kept", "B02")],
        )
        deltas = await projector.deltas()
    published = {
        d.key: (d.data["occupied"], d.data["occupied_since"]) for d in deltas if d.kind == "bed"
    }
    async with world.sessionmaker() as session:
        committed = await _bed_rows(session)
    assert {"T1:W1:B01", "T1:W1:B02", "T1:W1:B03", "T1:W1:B04"} <= published.keys()
    assert published == {bed: committed[bed] for bed in published}
    assert published["T1:W1:B01"][0] is False  # the attempt's admission: gone with it
    assert published["T1:W1:B03"][0] is True  # the attempt's move: gone with it
