"""A batch is applied first without SAVEPOINTs (two round trips fewer a batch, issue #17); a batch
refused for a record's fault is rolled back and applied again in SAVEPOINTs, down to its bad
records — and the attempt rolled back leaves no trace: each record counted once, each dead
letter said once, a partition that ran ahead still rewound."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from structlog.testing import capture_logs

from app.ingest.decoders.hl7v2 import decode_hl7v2
from app.ingest.models import DeadLetter
from app.occupancy.models import Encounter
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from consumers.batch import BatchApplier
from tests.factories import hl7
from tests.support.handlers import CrashingAdt

TOPIC = "attempts.adt.hl7v2"


@pytest.fixture
async def economy(clean_db: AsyncEngine) -> AsyncEngine:
    async with async_sessionmaker(clean_db)() as session, session.begin():
        await load_economy(session, EconomyConfig.load("deploy/economies/anyborough.yaml"))
    return clean_db


def _record(partition: int, offset: int, visit: str, bed: int) -> SimpleNamespace:
    value = hl7("A01", offset, bed=f"B{bed:02d}", visit=visit)
    return SimpleNamespace(
        topic=TOPIC, partition=partition, offset=offset, key=visit.encode(), value=value
    )


def _applier(engine: AsyncEngine) -> BatchApplier:
    async def publish(deltas: list[Any]) -> None:
        return None

    return BatchApplier(
        group_id="g-attempts",
        sessionmaker=async_sessionmaker(engine),
        handlers={TOPIC: lambda session: CrashingAdt(session, decode_hl7v2)},
        publish=publish,
    )


@contextmanager
def _savepoints(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SAVEPOINT"):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"topic": TOPIC, **labels}) or 0.0


async def _spells(engine: AsyncEngine) -> set[str]:
    async with async_sessionmaker(engine)() as session:
        return set((await session.scalars(select(Encounter.id))).all())


async def test_a_clean_batch_is_applied_without_a_savepoint(economy: AsyncEngine) -> None:
    records = [_record(0, n, f"VC{n}", n + 1) for n in range(5)]
    with _savepoints(economy) as seen:
        outcome = await _applier(economy).apply_batch(records)
    assert seen == []
    assert outcome.commit == {(TOPIC, 0): 5}
    assert await _spells(economy) == {f"RAN:VN:VC{n}" for n in range(5)}


async def test_a_refused_batch_is_applied_again_and_counted_once(economy: AsyncEngine) -> None:
    records = [_record(0, n, "VCRASH" if n == 3 else f"VR{n}", n + 1) for n in range(8)]
    before = {
        "consumed": _count("flowcc_ingest_consumed_total"),
        "applied": _count("flowcc_ingest_applied_total"),
        "dead": _count("flowcc_ingest_dead_lettered_total", kind="projection_crash:KeyError"),
    }
    with _savepoints(economy) as seen, capture_logs() as logs:
        outcome = await _applier(economy).apply_batch(records)
    assert seen  # the second attempt's parts, each in a SAVEPOINT
    assert outcome.commit == {(TOPIC, 0): 8}
    assert [(d.offset, d.kind) for d in outcome.dead_letters] == [(3, "projection_crash:KeyError")]
    async with async_sessionmaker(economy)() as session:
        letters = (await session.scalars(select(DeadLetter.offset))).all()
    assert letters == [3]
    assert await _spells(economy) == {f"RAN:VN:VR{n}" for n in range(8) if n != 3}
    assert _count("flowcc_ingest_consumed_total") - before["consumed"] == 8
    assert _count("flowcc_ingest_applied_total") - before["applied"] == 7
    dead = _count("flowcc_ingest_dead_lettered_total", kind="projection_crash:KeyError")
    assert dead - before["dead"] == 1
    assert [e["event"] for e in logs if e["event"] == "dead_letter"] == ["dead_letter"]


async def test_a_refused_batch_still_rewinds_a_partition_that_ran_ahead(
    economy: AsyncEngine,
) -> None:
    """Partition 0's records start past its stored offset (Kafka ran ahead of the database):
    it is rewound, not applied — in the attempt that commits too."""
    applier = _applier(economy)
    await applier.apply_batch([_record(0, 0, "VP0", 1), _record(1, 0, "VP1", 2)])
    outcome = await applier.apply_batch(
        [_record(0, 5, "VAHEAD", 3), _record(1, 1, "VCRASH", 4), _record(1, 2, "VP2", 5)]
    )
    assert outcome.rewind == {(TOPIC, 0): 1}
    assert outcome.commit == {(TOPIC, 1): 3}
    assert await _spells(economy) == {"RAN:VN:VP0", "RAN:VN:VP1", "RAN:VN:VP2"}
