"""A consumer process kill -9'ed at random points, at least ten times, during a stream of at
least 20,000 simulated events: the final bed state equals the reference computed from the
events themselves; nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.kafka import KafkaGateway
from app.simulation.runner import simulate
from app.topics import all_topics
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from tests.support.kafka import committed
from tests.support.reference import final_state, read_topic, reference

MIN_EVENTS = 20_000
KILLS = 10


@pytest.mark.slow
async def test_kill_nine_at_random_points_loses_and_doubles_nothing(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"k{uuid.uuid4().hex[:8]}.", "group_id": f"g-{uuid.uuid4().hex}"}
    )
    crash_settings = settings.model_copy(update={"kafka": kafka})
    gateway = KafkaGateway(kafka)
    await gateway.ensure_topics(all_topics(kafka))
    await gateway.close()
    sessions = async_sessionmaker(clean_db)
    async with sessions() as session, session.begin():
        await load_economy(session, EconomyConfig.load(crash_settings.economy_file))
    sent = await asyncio.to_thread(
        simulate,
        crash_settings,
        speed=0,
        seed=7,
        hours=24 * 14,
        json_feeds=False,
        fhir_feeds=False,
    )
    assert sent >= MIN_EVENTS
    messages = await asyncio.to_thread(read_topic, crash_settings)
    assert len(messages) == sent
    expected, distinct_events = reference(messages)

    env = dict(os.environ) | {
        "DATABASE_URL": crash_settings.db.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_GROUP_ID": kafka.group_id,
        "KAFKA_GROUP_INSTANCE_ID": "crash-test-consumer",
        "FLOWCC_LOG_LEVEL": "WARNING",
        # Batches of at most 500 (the default takes 5,000): ten kills need many commits to
        # strike between while the stream lasts.
        "KAFKA_MAX_POLL_RECORDS": "500",
    }

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "consume"], env=env)

    rng = random.Random(7)
    kills = 0
    process = start()
    try:
        async with asyncio.timeout(600):
            while kills < KILLS:
                before = await committed(clean_db)
                while await committed(clean_db) == before:  # wait for progress, then strike
                    await asyncio.sleep(0.05)
                await asyncio.sleep(rng.uniform(0, 0.6))
                assert await committed(clean_db) < len(messages), (
                    "the stream ended before the kills"
                )
                process.kill()
                process.wait()
                kills += 1
                process = start()
            while await committed(clean_db) < len(messages):
                await asyncio.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)

    beds, stored_events = await final_state(clean_db)
    assert kills >= KILLS
    assert stored_events == distinct_events, "an event was lost or stored twice"
    assert beds == expected
    print(f"crash test: {len(messages)} messages, {kills} kill -9s, {len(beds)} occupied beds")
