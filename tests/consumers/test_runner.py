"""The consumer runner through the REAL broker and database: apply, deduplicate, dead-letter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from kafka import KafkaProducer
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.board.deltas import Delta
from app.config import Settings
from app.ingest.models import ConsumerOffset, DeadLetter
from app.ingest.topics import ADT_HL7V2
from app.kafka import KafkaGateway
from app.topology.models import Bed
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from consumers.routing import build_handlers
from consumers.runner import ConsumerRunner
from tests.factories import hl7


@pytest.fixture
async def economy(clean_db: AsyncEngine, settings: Settings) -> AsyncIterator[Settings]:
    """Anyborough loaded, fresh topics and a fresh consumer group for this test."""
    sessions = async_sessionmaker(clean_db)
    async with sessions() as session, session.begin():
        await load_economy(session, EconomyConfig.load("deploy/economies/anyborough.yaml"))
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"r{uuid.uuid4().hex[:8]}.", "group_id": f"g-{uuid.uuid4().hex}"}
    )
    gateway = KafkaGateway(kafka)
    await gateway.ensure_topics({kafka.topic(ADT_HL7V2): 3})
    await gateway.close()
    return settings.model_copy(update={"kafka": kafka})


def produce(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", max_request_size=4 << 20
    )
    for key, value in messages:
        producer.send(settings.kafka.topic(ADT_HL7V2), key=key, value=value)
    producer.flush()
    producer.close()


async def consume_until(
    settings: Settings, engine: AsyncEngine, expected_records: int, deltas: list[Delta]
) -> None:
    async def publish(batch: list[Delta]) -> None:
        deltas.extend(batch)

    runner = ConsumerRunner(
        kafka=settings.kafka,
        sessionmaker=async_sessionmaker(engine),
        handlers=build_handlers(settings.kafka),
        publish=publish,
    )
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(60):
            while await committed(engine) < expected_records:
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def committed(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        total = await connection.scalar(
            select(text("coalesce(sum(next_offset), 0)")).select_from(ConsumerOffset.__table__)
        )
    return int(total or 0)


async def bed(engine: AsyncEngine, bed_id: str) -> Bed:
    async with async_sessionmaker(engine)() as session:
        return (await session.execute(select(Bed).where(Bed.id == bed_id))).scalar_one()


async def test_admit_then_transfer_moves_the_bed_and_publishes_deltas(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    admit = hl7("A01", 0, bed="B01", control_id="adm-1")
    produce(economy, [(b"V1", admit), (b"V1", admit), (b"V1", hl7("A02", 30, bed="B05"))])
    deltas: list[Delta] = []
    await consume_until(economy, clean_db, 3, deltas)

    assert (await bed(clean_db, "RAN01:AMU:B01")).occupant_encounter_id is None
    assert (await bed(clean_db, "RAN01:AMU:B05")).occupant_encounter_id == "RAN:VN:V1"
    unit_deltas = [d for d in deltas if d.kind == "unit" and d.view == "site:RAN01"]
    assert unit_deltas[-1].data["occupied"] == 1
    # Deltas carry committed state only: B05 is occupied; B01 is either untouched (admit and
    # transfer committed in one batch) or shown free again - never left showing occupied.
    last_bed_state = {d.key: d.data["occupied"] for d in deltas if d.kind == "bed"}
    assert last_bed_state["RAN01:AMU:B05"] is True
    assert last_bed_state.get("RAN01:AMU:B01", False) is False
    assert all("RAN:VN:V1" not in str(d.data) for d in deltas), "no patient identifiers on boards"


async def test_bad_messages_are_dead_lettered_and_the_partition_keeps_flowing(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    garbage = bytes(range(256)) * 4096  # 1 MiB of noise
    unknown = hl7("A01", 0, control_id="weird").replace(b"ADT^A01^ADT_A01", b"ADT^Z99^ADT_A01")
    bad_time = hl7("A01", 0, control_id="badtime").replace(b"PAS^SYSTEM|", b"PAS^SYSTEM|yesterday")
    produce(
        economy,
        [
            (b"V7", garbage),
            (b"V7", unknown),
            (b"V7", bad_time),
            (b"V7", hl7("A01", 5, bed="B07", visit="V7")),
        ],
    )
    await consume_until(economy, clean_db, 4, [])

    async with async_sessionmaker(clean_db)() as session:
        letters = (await session.execute(select(DeadLetter).order_by(DeadLetter.offset))).scalars()
        kinds = {letter.error_kind: letter for letter in letters}
    assert set(kinds) == {"undecodable", "unsupported_event", "invalid_value"}
    assert kinds["undecodable"].raw == garbage
    assert "Z99" in kinds["unsupported_event"].error_message
    assert (await bed(clean_db, "RAN01:AMU:B07")).occupant_encounter_id == "RAN:VN:V7"


async def test_restart_resumes_from_the_stored_offsets_without_reapplying(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    produce(economy, [(b"V2", hl7("A01", 0, bed="B02", visit="V2"))])
    await consume_until(economy, clean_db, 1, [])
    produce(economy, [(b"V2", hl7("A03", 60, bed="B02", visit="V2"))])
    deltas: list[Delta] = []
    await consume_until(economy, clean_db, 2, deltas)
    assert (await bed(clean_db, "RAN01:AMU:B02")).occupant_encounter_id is None
    assert [d.data["occupied"] for d in deltas if d.kind == "unit" and d.view == "system"] == [0]
