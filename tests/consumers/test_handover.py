"""Two consumer processes in one group split the partitions; `kill -9` of one hands its
partitions to the other, with nothing lost and nothing applied twice (issue #3 item 3)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.kafka import KafkaGateway
from app.simulation.runner import simulate
from app.topics import ADT_HL7V2, PARTITIONS, all_topics
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from tests.support.kafka import committed
from tests.support.reference import final_state, read_topic, reference


def assignments(log: Path, topic: str) -> list[set[int]]:
    """Every assignment this consumer logged, as sets of partition numbers of ``topic``."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "partitions_assigned":
            found.append({p for t, p in entry["partitions"] if t == topic})
    return found


async def until(condition: object, within: float, what: str) -> None:
    try:
        async with asyncio.timeout(within):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"not within {within} s: {what}")


@pytest.mark.slow
async def test_two_consumers_split_the_partitions_and_one_survives_the_other(
    settings: Settings, clean_db: AsyncEngine, tmp_path: Path
) -> None:
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"h{uuid.uuid4().hex[:8]}.", "group_id": f"g-{uuid.uuid4().hex}"}
    )
    run_settings = settings.model_copy(update={"kafka": kafka})
    gateway = KafkaGateway(kafka)
    await gateway.ensure_topics(all_topics(kafka))
    await gateway.close()
    async with async_sessionmaker(clean_db)() as session, session.begin():
        await load_economy(session, EconomyConfig.load(run_settings.economy_file))
    sent = await asyncio.to_thread(
        simulate, run_settings, speed=0, seed=3, hours=24 * 14, json_feeds=False, fhir_feeds=False
    )
    messages = await asyncio.to_thread(read_topic, run_settings)
    assert len(messages) == sent
    expected, distinct_events = reference(messages)
    topic = kafka.topic(ADT_HL7V2)
    every = set(range(PARTITIONS[ADT_HL7V2]))

    def start(name: str) -> tuple[subprocess.Popen[bytes], Path, IO[bytes]]:
        log = tmp_path / f"{name}.log"
        sink = log.open("wb")
        env = dict(os.environ) | {
            "DATABASE_URL": run_settings.db.url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
            "KAFKA_GROUP_ID": kafka.group_id,
            "FLOWCC_LOG_LEVEL": "INFO",
        }
        cmd = [sys.executable, "-m", "app.cli", "consume"]
        return subprocess.Popen(cmd, env=env, stderr=sink, stdout=sink), log, sink

    first, first_log, first_sink = start("first")
    second, second_log, second_sink = start("second")
    try:
        # Both members hold a share: disjoint, together every partition.
        def split() -> bool:
            a, b = assignments(first_log, topic), assignments(second_log, topic)
            return (
                bool(a and b and a[-1] and b[-1]) and a[-1] | b[-1] == every and not (a[-1] & b[-1])
            )

        await until(split, 90, "the two consumers to split the partitions")
        assert await committed(clean_db) < len(messages), "the stream ended before the kill"
        first.kill()
        first.wait()
        await until(
            lambda: assignments(second_log, topic)[-1] == every,
            90,
            "the survivor to take every partition",
        )

        async def done() -> bool:
            return await committed(clean_db) >= len(messages)

        async with asyncio.timeout(300):
            while not await done():
                await asyncio.sleep(0.2)
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        first_sink.close()
        second_sink.close()

    beds, stored_events = await final_state(clean_db)
    assert stored_events == distinct_events, "an event was lost or stored twice"
    assert beds == expected
