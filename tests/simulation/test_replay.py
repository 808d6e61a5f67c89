"""`flowcc replay`: recorded files go to the right topics with the right keys, and through the
running service."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.simulation.replay import NotAFeed, classify
from tests.factories import hl7
from tests.support.clock import minutes_ago
from tests.support.services import isolated_kafka, live_server

AMBULANCE = [
    {"event_id": f"R1-{step}", "incident_id": "R1", "step": step, "category": 2,
     "destination_site": "RAN01", "vehicle": "RYA222", "occurred_at": minutes_ago(10).isoformat()}
    for step in ("conveying", "arrived_at_hospital")
]  # fmt: skip


def test_files_are_classified_by_content() -> None:
    batch = (
        b"FHS|^~\\&\rBHS|^~\\&\r" + hl7("A01", 0, visit="VA") + b"\r" + hl7("A02", 5, visit="VB")
    )
    assert [(t, k) for t, k, _ in classify(batch)] == [
        ("adt.hl7v2", b"RAN:VN:VA"),
        ("adt.hl7v2", b"RAN:VN:VB"),
    ]
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Encounter", "id": "e1"}},
        {"resource": {"resourceType": "Encounter", "id": "e2"}},
    ]}  # fmt: skip
    assert [(t, k) for t, k, _ in classify(json.dumps(bundle).encode())] == [
        ("adt.fhir", b"e1"),
        ("adt.fhir", b"e2"),
    ]
    lines = "\n".join(json.dumps(e) for e in [*AMBULANCE, {"spell_id": "S", "status": "ready"}])
    assert [(t, k) for t, k, _ in classify(lines.encode())] == [
        ("ambulance.events", b"R1"),
        ("ambulance.events", b"R1"),
        ("discharge.status", b"S"),
    ]
    with pytest.raises(ValueError, match="not a feed message"):
        list(classify(b'{"hello": "world"}'))


@pytest.mark.usefixtures("clean_db")
async def test_replayed_files_reach_the_board(
    settings: Settings, clean_db: AsyncEngine, tmp_path: Path
) -> None:
    app_settings = isolated_kafka(settings)
    (tmp_path / "adt.hl7").write_bytes(hl7("A01", 0, bed="B07", visit="VREPLAY"))
    (tmp_path / "ambulance.jsonl").write_text("\n".join(json.dumps(e) for e in AMBULANCE))
    async with live_server(app_settings) as base:
        env = dict(os.environ) | {
            "DATABASE_URL": app_settings.db.url,
            "KAFKA_BOOTSTRAP_SERVERS": app_settings.kafka.bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": app_settings.kafka.topic_prefix,
        }
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", "replay", str(tmp_path / "adt.hl7"),
             str(tmp_path / "ambulance.jsonl")],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "adt.hl7v2: 1 messages" in out.stdout
        assert "ambulance.events: 2 messages" in out.stdout
        async with httpx.AsyncClient(base_url=f"http://{base}") as client:
            login = await client.post("/api/v1/auth/dev-login", json={"username": "commander"})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for _ in range(150):
                site = (await client.get("/api/v1/sites/RAN01", headers=headers)).json()
                if (
                    site["beds"]["RAN01:AMU:B07"]["occupied"]
                    and site["metrics"]["ambulance"]["waiting"] == 1
                ):
                    break
                await asyncio.sleep(0.1)
        assert site["beds"]["RAN01:AMU:B07"]["occupied"] is True
        assert site["metrics"]["ambulance"]["queue"][0]["vehicle"] == "RYA222"


def test_files_that_are_no_feed_are_refused_with_their_reason(tmp_path: Path) -> None:
    for raw, reason in (
        (bytes(range(128, 256)) * 10, "nor UTF-8 JSON"),
        (b"[" * 100_000, "line 1 is neither JSON"),
        (b'{"resourceType": "Encounter", "id": "e1"}\n{not json', "line 2 is neither JSON"),
    ):
        with pytest.raises(NotAFeed, match=reason):
            list(classify(raw))
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    env = dict(os.environ) | {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}  # never reached
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(binary)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert "nothing sent" in out.stderr
    assert "photo.jpg" in out.stderr
    assert "Traceback" not in out.stderr
