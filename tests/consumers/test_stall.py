"""The consumer's stall detector, through the REAL broker and database: records seen waiting for
the first time are only suspected — the first record of a burst after a quiet spell is at the
broker's end offset before its fetch arrives, and that restarted the consumer (a group rejoin,
seconds without frames) at the start of every such burst (issue #17); records still waiting
STALL_SECONDS later mean a stuck client, which is replaced. The client's own pause() holds the
fetch back, standing in for a fetch on its way or a client stuck."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from kafka import KafkaConsumer
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.changes import Delta
from app.config import Settings
from app.ingest.routing import build_handlers
from consumers.runner import STALL_SECONDS, ConsumerRunner
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
    return consumer


def _quiet_then_one_record(runner: ConsumerRunner, settings: Settings, n: int) -> None:
    """Quiet for 10 s, then a record the client has not fetched yet."""
    produce(settings, [(b"VS", hl7("A01", n, bed=f"B{n + 1:02d}", visit="VS"))])
    runner._last_records = time.monotonic() - 10
    runner._last_check = 0.0


def _stalls() -> float:
    return REGISTRY.get_sample_value("flowcc_ingest_consumer_stalls_total") or 0.0


async def test_a_burst_after_a_quiet_spell_is_no_stalled_client(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    runner = _runner(economy, clean_db)
    before = _stalls()

    def scenario() -> tuple[list[Any] | None, list[Any] | None]:
        consumer = _assigned(runner)
        try:
            consumer.pause(*consumer.assignment())  # its fetch still on the way
            _quiet_then_one_record(runner, economy, 0)
            first = runner._poll(consumer, idle=True, timeout_ms=0)
            consumer.resume(*consumer.assignment())
            deadline = time.monotonic() + 30
            later: list[Any] | None = []
            while later == [] and time.monotonic() < deadline:
                later = runner._poll(consumer, idle=True)
            return first, later
        finally:
            consumer.close(autocommit=False)
            runner.decoder.close(failed=False)

    first, later = await asyncio.to_thread(scenario)
    assert first == []  # suspected, not replaced (None: replaced)
    assert later is not None
    assert [r.offset for r in later] == [0]
    assert _stalls() == before


async def test_records_still_waiting_after_the_stall_time_replace_the_client(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    runner = _runner(economy, clean_db)
    before = _stalls()

    def scenario() -> tuple[list[Any] | None, list[Any] | None]:
        consumer = _assigned(runner)
        try:
            consumer.pause(*consumer.assignment())  # stuck: nothing will arrive
            _quiet_then_one_record(runner, economy, 1)
            first = runner._poll(consumer, idle=True, timeout_ms=0)
            time.sleep(STALL_SECONDS + 1.1)  # still waiting, and the check is due again
            return first, runner._poll(consumer, idle=True, timeout_ms=0)
        finally:
            consumer.close(autocommit=False)
            runner.decoder.close(failed=False)

    first, second = await asyncio.to_thread(scenario)
    assert first == []
    assert second is None  # the client is replaced
    assert _stalls() == before + 1
