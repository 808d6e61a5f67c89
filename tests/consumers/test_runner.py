"""The consumer runner through the REAL broker and database: apply, deduplicate, dead-letter."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.ambulance.models import AmbulanceJourney
from app.changes import Delta
from app.config import Settings
from app.ingest.models import DeadLetter
from app.topics import ADT_FHIR, AMBULANCE
from app.topology.models import Bed
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from tests.factories import T0, hl7
from tests.support.kafka import consume_until, own_topics, produce


@pytest.fixture
async def economy(clean_db: AsyncEngine, settings: Settings) -> Settings:
    """Anyborough loaded, fresh topics and a fresh consumer group for this test."""
    sessions = async_sessionmaker(clean_db)
    async with sessions() as session, session.begin():
        await load_economy(session, EconomyConfig.load("deploy/economies/anyborough.yaml"))
    return await own_topics(settings)


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


FHIR_ADMIT = {
    "resourceType": "Encounter",
    "id": "enc-77",
    "status": "in-progress",
    "meta": {"versionId": "1", "lastUpdated": T0.isoformat()},
    "identifier": [{"system": "RNF", "value": "77"}],
    "class": {"code": "IMP"},
    "location": [{"location": {"reference": "Location/RNF01:AMU:B09"}, "status": "active"}],
}
AMBULANCE_ARRIVED = {
    "event_id": "e-1",
    "incident_id": "INC-1",
    "step": "arrived_at_hospital",
    "category": 2,
    "destination_site": "RAN01",
    "occurred_at": (T0 + timedelta(minutes=5)).isoformat(),
}


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
    patient = {"resourceType": "Patient", "id": "p1"}
    produce(
        economy,
        [(b"p1", json.dumps(patient).encode()), (b"77", json.dumps(FHIR_ADMIT).encode())],
        ADT_FHIR,
    )
    wrong_types = AMBULANCE_ARRIVED | {"event_id": "e-0", "category": "two"}
    produce(
        economy,
        [
            (b"INC-1", json.dumps(wrong_types).encode()),
            (b"INC-1", json.dumps(AMBULANCE_ARRIVED).encode()),
        ],
        AMBULANCE,
    )
    await consume_until(economy, clean_db, 8, [])

    async with async_sessionmaker(clean_db)() as session:
        letters = (
            (await session.execute(select(DeadLetter).order_by(DeadLetter.id))).scalars().all()
        )
        journey = await session.get(AmbulanceJourney, ("INC-1", ""))
    reasons = {letter.error_message: letter for letter in letters}
    assert len(letters) == 5
    assert len(reasons) == 5, "each bad message has its own, distinct reason"
    by_kind = {(letter.topic.rsplit(".", 1)[-1], letter.error_kind) for letter in letters}
    assert by_kind == {
        ("hl7v2", "undecodable"),
        ("hl7v2", "unsupported_event"),
        ("hl7v2", "invalid_value"),
        ("fhir", "unsupported_event"),
        ("events", "invalid_value"),
    }
    garbage_letter = next(letter for letter in letters if letter.error_kind == "undecodable")
    assert garbage_letter.raw == garbage
    assert any("Z99" in reason for reason in reasons)
    assert any("'Patient' is not Encounter" in reason for reason in reasons)
    assert any("category" in reason for reason in reasons)
    # The valid messages around them were applied.
    assert (await bed(clean_db, "RAN01:AMU:B07")).occupant_encounter_id == "RAN:VN:V7"
    assert (await bed(clean_db, "RNF01:AMU:B09")).occupant_encounter_id == "RNF:VN:77"
    assert journey is not None
    assert journey.arrived_at is not None


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


async def test_a_fixed_dead_letter_is_resubmitted_to_its_topic(
    economy: Settings, clean_db: AsyncEngine, tmp_path: Path
) -> None:
    broken = hl7("A01", 0, bed="B12", visit="VR").replace(b"PAS^SYSTEM|", b"PAS^SYSTEM|soon")
    produce(economy, [(b"VR", broken)])
    await consume_until(economy, clean_db, 1, [])
    async with async_sessionmaker(clean_db)() as session:
        letter = (await session.execute(select(DeadLetter))).scalar_one()
    fixed = tmp_path / "fixed.hl7"
    fixed.write_bytes(hl7("A01", 0, bed="B12", visit="VR"))
    env = dict(os.environ) | {
        "DATABASE_URL": economy.db.url,
        "KAFKA_BOOTSTRAP_SERVERS": economy.kafka.bootstrap_servers,
    }
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "resubmit-dead-letter",
        str(letter.id),
        "--fixed",
        str(fixed),
    ]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    await consume_until(economy, clean_db, 2, [])
    assert (await bed(clean_db, "RAN01:AMU:B12")).occupant_encounter_id == "RAN:VN:VR"
    async with async_sessionmaker(clean_db)() as session:
        resubmitted = await session.get(DeadLetter, letter.id)
        assert resubmitted is not None
        assert resubmitted.resubmitted_at is not None
