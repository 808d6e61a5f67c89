"""Fencing (issue #15): a consumer that lost its partitions while paused past its session
timeout, and wakes up to apply the batch it had polled, changes nothing — the offsets stored in
the same transaction as the state make its late batch a no-op, and no offset moves back."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.changes import Delta
from app.config import Settings
from app.ingest.models import ConsumerOffset
from app.ingest.routing import build_handlers
from app.topics import ADT_HL7V2
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from consumers.runner import ConsumerRunner
from tests.factories import hl7
from tests.support.kafka import own_topics, produce
from tests.support.reference import final_state


@pytest.fixture
async def economy(clean_db: AsyncEngine, settings: Settings) -> Settings:
    async with async_sessionmaker(clean_db)() as session, session.begin():
        await load_economy(session, EconomyConfig.load("deploy/economies/anyborough.yaml"))
    return await own_topics(settings, prefix="z")


def polled(settings: Settings, count: int) -> list[Any]:
    """The records a consumer polls — what a zombie holds when it wakes."""
    name = settings.kafka.topic(ADT_HL7V2)
    consumer = KafkaConsumer(**settings.kafka.client_options())
    partitions = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records: list[Any] = []
    while len(records) < count:
        for batch in consumer.poll(timeout_ms=1000).values():
            records += batch
    consumer.close()
    return sorted(records, key=lambda record: record.offset)


async def stored(engine: AsyncEngine) -> dict[tuple[str, int], int]:
    async with async_sessionmaker(engine)() as session:
        rows = await session.execute(
            select(ConsumerOffset.topic, ConsumerOffset.partition, ConsumerOffset.next_offset)
        )
        return {(topic, partition): offset for topic, partition, offset in rows.all()}


async def test_a_zombies_late_batch_is_fenced_off(economy: Settings, clean_db: AsyncEngine) -> None:
    produce(
        economy,
        [(b"same-partition", hl7("A01", n, bed=f"B{n + 1:02d}", visit=f"Z{n}")) for n in range(10)]
        + [(b"same-partition", hl7("A03", 60 + n, bed=f"B{n + 1:02d}", visit=f"Z{n}"))
           for n in range(5)],
    )  # fmt: skip
    records = polled(economy, 15)
    (partition,) = {r.partition for r in records}  # one key: one partition, in order

    async def publish(_: list[Delta]) -> None:
        return None

    def runner() -> ConsumerRunner:
        return ConsumerRunner(
            kafka=economy.kafka,
            sessionmaker=async_sessionmaker(clean_db),
            handlers=build_handlers(economy.kafka),
            publish=publish,
        )

    zombie, owner = runner(), runner()
    # The zombie polled the admissions, then was stopped; the group gave the partition to the
    # new owner, which applied everything (admissions and the five discharges).
    zombie_batch = records[:10]
    await owner.applier.apply_batch(records)
    before = (await final_state(clean_db), await stored(clean_db))
    assert before[1] == {(economy.kafka.topic(ADT_HL7V2), partition): 15}

    outcome = await zombie.applier.apply_batch(zombie_batch)  # it wakes up and writes

    assert outcome.commit == {}, "the zombie's batch applied nothing"
    assert (await final_state(clean_db), await stored(clean_db)) == before
