"""Real-broker helpers: a test's own topics and consumer group, producing, and running the
consumer runner until the database has stored a number of offsets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from kafka import KafkaProducer
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.changes import Delta
from app.config import Settings
from app.ingest.models import ConsumerOffset
from app.ingest.routing import HandlerFactory, build_handlers
from app.kafka import KafkaGateway
from app.topics import ADT_HL7V2, all_topics
from consumers.runner import ConsumerRunner


async def own_topics(settings: Settings, prefix: str = "r") -> Settings:
    """Settings with fresh topics (created) and a fresh consumer group for one test."""
    kafka = settings.kafka.model_copy(
        update={
            "topic_prefix": f"{prefix}{uuid.uuid4().hex[:8]}.",
            "group_id": f"g-{uuid.uuid4().hex}",
        }
    )
    gateway = KafkaGateway(kafka)
    await gateway.ensure_topics(all_topics(kafka))
    await gateway.close()
    return settings.model_copy(update={"kafka": kafka})


def produce(
    settings: Settings, messages: Sequence[tuple[bytes, bytes]], topic: str = ADT_HL7V2
) -> None:
    producer = KafkaProducer(
        **settings.kafka.client_options(), acks="all", max_request_size=4 << 20
    )
    for key, value in messages:
        producer.send(settings.kafka.topic(topic), key=key, value=value)
    producer.flush()
    producer.close()


async def committed(engine: AsyncEngine) -> int:
    """The sum of the next offsets stored with the state: records applied or dead-lettered."""
    async with engine.connect() as connection:
        total = await connection.scalar(
            select(text("coalesce(sum(next_offset), 0)")).select_from(ConsumerOffset.__table__)
        )
    return int(total or 0)


async def consume_until(
    settings: Settings,
    engine: AsyncEngine,
    expected_records: int,
    deltas: list[Delta] | None = None,
    *,
    handlers: dict[str, HandlerFactory] | None = None,
) -> None:
    """Run a consumer runner until ``expected_records`` offsets are stored; fails if the runner
    stops by itself (a restart loop would never get there)."""

    async def publish(batch: list[Delta]) -> None:
        if deltas is not None:
            deltas.extend(batch)

    runner = ConsumerRunner(
        kafka=settings.kafka,
        sessionmaker=async_sessionmaker(engine),
        handlers=handlers or build_handlers(settings.kafka),
        publish=publish,
    )
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(60):
            while await committed(engine) < expected_records:
                assert not task.done(), f"the runner stopped: {task.exception()!r}"
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
