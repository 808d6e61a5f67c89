"""The consumer's stall detector, through the REAL broker and database: records seen waiting for
the first time are only suspected — the first record of a burst after a quiet spell is at the
broker's end offset before its fetch arrives, and that restarted the consumer (a group rejoin,
seconds without frames) at the start of every such burst (issue #17); records still waiting
STALL_SECONDS later mean a stuck client, which is replaced. The client's own pause() holds the
fetch back, standing in for a fetch on its way or a client stuck."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.changes import Delta
from app.config import Settings
from app.ingest.routing import build_handlers
from consumers.runner import JOIN_STALL_SECONDS, STALL_SECONDS, ConsumerRunner, _SeekToStored
from tests.factories import hl7
from tests.support.kafka import own_topics, produce


@pytest.fixture
async def economy(clean_db: AsyncEngine, settings: Settings) -> Settings:
    return await own_topics(settings, prefix="s")


async def _ignore(_: list[Delta]) -> None:
    return None


def _runner(settings: Settings, engine: AsyncEngine) -> ConsumerRunner:
    runner = ConsumerRunner(
        kafka=settings.kafka,
        sessionmaker=async_sessionmaker(engine),
        handlers=build_handlers(settings.kafka),
        publish=_ignore,
    )
    runner._loop = asyncio.get_running_loop()  # the poll thread's database calls run here
    return runner


def _assigned(runner: ConsumerRunner) -> KafkaConsumer:
    """A subscribed consumer with its partitions assigned and sought to the stored offsets."""
    consumer = runner._subscribed_consumer()
    deadline = time.monotonic() + 60
    while not consumer.assignment() or runner._pending_seek:
        assert time.monotonic() < deadline, "no partitions assigned within 60 s"
        assert runner._poll(consumer, idle=False) == []
    settled = time.monotonic() + 1.5  # the rebalance a new group's first metadata brings
    while time.monotonic() < settled:
        assert runner._poll(consumer, idle=False) == []
    runner._revoked_at = None  # holding its partitions (a rejoin is the scenarios' business)
    return consumer


Scenario = Callable[[ConsumerRunner, KafkaConsumer], tuple[Any, Any]]


async def _after_a_quiet_spell(
    settings: Settings, engine: AsyncEngine, scenario: Scenario
) -> tuple[Any, Any]:
    """On the poll thread: the consumer assigned and paused (its fetch held back), quiet for
    10 s, then a record it has not fetched, then ``scenario``."""
    runner = _runner(settings, engine)

    def run() -> tuple[Any, Any]:
        consumer = _assigned(runner)
        try:
            consumer.pause(*consumer.assignment())
            produce(settings, [(b"VS", hl7("A01", 0, bed="B01", visit="VS"))])
            runner._last_records = time.monotonic() - 10
            runner._last_check = 0.0
            return scenario(runner, consumer)
        finally:
            consumer.close(autocommit=False)
            runner.decoder.close(failed=False)

    return await asyncio.to_thread(run)


def _stalls() -> float:
    return REGISTRY.get_sample_value("flowcc_ingest_consumer_stalls_total") or 0.0


def _checked_soon(runner: ConsumerRunner, consumer: KafkaConsumer) -> tuple[Any, Any]:
    """Checked while the fetch is on its way, and again within the stall time."""
    first = runner._poll(consumer, idle=True, timeout_ms=0)
    time.sleep(1.1)  # the check is due again; the records have waited less than STALL_SECONDS
    return first, runner._poll(consumer, idle=True, timeout_ms=0)


def _never_fetched(runner: ConsumerRunner, consumer: KafkaConsumer) -> tuple[Any, Any]:
    """Checked, then checked again once the stall time has passed: still nothing fetched."""
    first = runner._poll(consumer, idle=True, timeout_ms=0)
    time.sleep(STALL_SECONDS + 1.1)  # still waiting, and the check is due again
    return first, runner._poll(consumer, idle=True, timeout_ms=0)


async def test_a_burst_after_a_quiet_spell_is_no_stalled_client(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    before = _stalls()
    first, second = await _after_a_quiet_spell(economy, clean_db, _checked_soon)
    assert first == []  # suspected, not replaced (None: replaced)
    assert second == []
    assert _stalls() == before


async def test_records_still_waiting_after_the_stall_time_replace_the_client(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    before = _stalls()
    first, second = await _after_a_quiet_spell(economy, clean_db, _never_fetched)
    assert first == []
    assert second is None  # the client is replaced
    assert _stalls() == before + 1


def _revoked(since: float) -> Scenario:
    """The group took the partitions away ``since`` seconds ago and has not handed them back
    (what kafka-python 3.0.12 leaves when a join completes after the poll that began it timed
    out: the client still lists its old partitions, no assignment follows)."""

    def scenario(runner: ConsumerRunner, consumer: KafkaConsumer) -> tuple[Any, Any]:
        _SeekToStored(runner, consumer).on_partitions_revoked(consumer.assignment())
        runner._revoked_at = time.monotonic() - since
        return consumer.assignment(), runner._poll(consumer, idle=True, timeout_ms=0)

    return scenario


async def test_a_rebalance_that_never_hands_the_partitions_back_replaces_the_client(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    before = _stalls()
    held, polled = await _after_a_quiet_spell(
        economy, clean_db, _revoked(since=JOIN_STALL_SECONDS + 1)
    )
    assert held  # the client still lists the partitions it held...
    assert polled is None  # ... and is replaced
    assert _stalls() == before + 1


async def test_a_rebalance_in_progress_is_left_to_finish(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    before = _stalls()
    _, polled = await _after_a_quiet_spell(economy, clean_db, _revoked(since=1.0))
    assert polled is not None  # a join under JOIN_STALL_SECONDS old is not interfered with
    assert _stalls() == before
