"""The real services themselves: a Kafka round trip, PostgreSQL writes, migrations both ways."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from alembic import command
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.config import DbSettings, Settings
from app.ingest.models import DeadLetter
from tests.support.services import alembic_config, new_database


def test_produce_and_consume_through_the_real_broker(
    kafka_bootstrap: str, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic("roundtrip", partitions=3)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(30)}
    for key, value in sent.items():
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"roundtrip-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    received: dict[bytes, bytes] = {}
    for message in consumer:
        received[message.key] = message.value
        if len(received) == len(sent):
            break
    consumer.close()
    assert received == sent


async def test_write_and_read_the_real_database(db_session: AsyncSession) -> None:
    letter = DeadLetter(
        topic="adt.hl7v2",
        partition=0,
        offset=42,
        key=None,
        raw=b"\x0bnot hl7\x1c\r",
        error_kind="undecodable",
        error_message="no MSH segment",
    )
    db_session.add(letter)
    await db_session.flush()
    stored = (
        await db_session.execute(select(DeadLetter).where(DeadLetter.offset == 42))
    ).scalar_one()
    assert stored.raw == b"\x0bnot hl7\x1c\r"
    assert stored.first_seen is not None


async def test_each_test_starts_from_an_empty_table(db_session: AsyncSession) -> None:
    """Per-test isolation: the row written by the previous test was rolled back."""
    count = (await db_session.execute(text("SELECT count(*) FROM dead_letters"))).scalar_one()
    assert count == 0


@pytest.mark.usefixtures("settings")
async def test_alembic_upgrade_downgrade_upgrade() -> None:
    url = await new_database("flowcc_migrations")
    config = alembic_config(url)
    engine = create_async_engine(DbSettings(DATABASE_URL=url).url)

    async def tables() -> set[str]:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        return set(names) - {"alembic_version"}

    await asyncio.to_thread(command.upgrade, config, "head")
    after_first_upgrade = await tables()
    assert {"consumer_offsets", "dead_letters"} <= after_first_upgrade
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await tables() == set()
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await tables() == after_first_upgrade
    await engine.dispose()


def test_production_refuses_the_development_secret_and_demo_users() -> None:
    with pytest.raises(ValueError, match="FLOWCC_JWT_SECRET"):
        Settings(environment="production")
