"""POST /api/v1/ingest/{kind} validates and goes through Kafka; GET /api/v1/dead-letters lists."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.ingest.models import DeadLetter
from tests.factories import T0, hl7
from tests.support.services import isolated_kafka, live_server

pytestmark = pytest.mark.usefixtures("clean_db")


async def token(client: httpx.AsyncClient, user: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/dev-login", json={"username": user})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_ingest_produces_to_kafka_and_the_consumer_applies_it(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    async with (
        live_server(isolated_kafka(settings)) as base,
        httpx.AsyncClient(base_url=f"http://{base}") as client,
    ):
        ingest = await token(client, "pas.ingest")
        reader = await token(client, "commander")
        accepted = await client.post(
            "/api/v1/ingest/hl7v2", content=hl7("A01", 0, bed="B11", visit="VI"), headers=ingest
        )
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["topic"].endswith("adt.hl7v2")
        assert accepted.json()["offset"] >= 0

        for _ in range(100):
            site = (await client.get("/api/v1/sites/RAN01", headers=reader)).json()
            if site["beds"]["RAN01:AMU:B11"]["occupied"]:
                break
            await asyncio.sleep(0.1)
        assert site["beds"]["RAN01:AMU:B11"]["occupied"] is True

        unknown = hl7("A01", 0, ward="NOWHERE", bed="X1", visit="VX")
        assert (
            await client.post("/api/v1/ingest/hl7v2", content=unknown, headers=ingest)
        ).is_success
        for _ in range(100):
            page = (await client.get("/api/v1/location-exceptions", headers=reader)).json()
            if page["items"]:
                break
            await asyncio.sleep(0.1)
        assert page["items"][0]["location_text"] == "NOWHERE^BAY1^X1^RAN01"


async def test_bad_payloads_get_a_precise_4xx_and_roles_are_enforced(settings: Settings) -> None:
    async with (
        live_server(settings) as base,
        httpx.AsyncClient(base_url=f"http://{base}") as client,
    ):
        ingest = await token(client, "pas.ingest")
        site_manager = await token(client, "sm.anyborough")
        wrong = {
            "event_id": "e",
            "incident_id": "i",
            "step": "call",
            "category": "two",
            "occurred_at": T0.isoformat(),
        }
        response = await client.post(
            "/api/v1/ingest/ambulance", content=json.dumps(wrong), headers=ingest
        )
        assert response.status_code == 422
        assert "category" in response.json()["error"]["message"]
        response = await client.post("/api/v1/ingest/hl7v2", content=b"garbage", headers=ingest)
        assert response.status_code == 422
        assert response.json()["error"]["message"].startswith("undecodable")
        response = await client.post("/api/v1/ingest/nonsense", content=b"x", headers=ingest)
        assert response.status_code == 422
        response = await client.post(
            "/api/v1/ingest/hl7v2", content=hl7("A01", 0), headers=site_manager
        )
        assert response.status_code == 403
        assert (await client.post("/api/v1/ingest/hl7v2", content=hl7("A01", 0))).status_code == 401
        assert (await client.get("/api/v1/dead-letters", headers=site_manager)).status_code == 403
        assert (await client.get("/api/v1/dead-letters")).status_code == 401
        forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}
        assert (await client.get("/api/v1/dead-letters", headers=forged)).status_code == 401


async def test_a_dead_letter_is_listed_without_its_bytes_and_read_whole_by_admin_audited(
    asgi_client: httpx.AsyncClient, clean_db: AsyncEngine
) -> None:
    """The list names what failed and why, not the message (it holds patients' identifiers);
    an admin reads the message exactly as received — every byte, however large — and the read
    is in the audit log."""
    raw = b"MSH|^~\\&|PAS|RAN|" + bytes(range(256)) * 400 + b"\r"  # 100 KiB, not text
    async with async_sessionmaker(clean_db)() as session, session.begin():
        session.add(DeadLetter(topic="adt.hl7v2", partition=0, offset=7, key=None, raw=raw,
                               error_kind="undecodable", error_message="not text"))  # fmt: skip
    admin, commander = await token(asgi_client, "admin"), await token(asgi_client, "commander")
    listed = (await asgi_client.get("/api/v1/dead-letters", headers=commander)).json()["items"]
    assert [(item["size_bytes"], "raw_base64" in item) for item in listed] == [(len(raw), False)]
    assert listed[0]["sha256"] == hashlib.sha256(raw).hexdigest()
    path = f"/api/v1/dead-letters/{listed[0]['id']}"
    assert (await asgi_client.get(path, headers=commander)).status_code == 403
    whole = await asgi_client.get(path, headers=admin)
    assert whole.status_code == 200, whole.text
    assert base64.b64decode(whole.json()["raw_base64"]) == raw
    assert (await asgi_client.get("/api/v1/dead-letters/999999", headers=admin)).status_code == 404
    audit = (await asgi_client.get("/api/v1/audit", headers=admin)).json()["items"]
    assert [(e["action"], e["resource"]) for e in audit] == [
        ("dead_letter.read", f"dead-letter:{listed[0]['id']}")
    ]


async def test_ingest_refuses_what_the_consumer_would_dead_letter(
    asgi_client: httpx.AsyncClient,
) -> None:
    """ "Validated exactly as the consumer will": a care-home report for a home, or an ambulance
    bound for a site, that the economy does not have is a 422 now, not a dead letter later."""
    ingest = await token(asgi_client, "pas.ingest")
    beds = [{"bed_type": "nursing", "capacity": 10, "occupied": 8, "vacant": 2}]
    home = {"report_id": "r1", "home_code": "1-NOSUCHHOME", "open_to_admissions": True,
            "reported_at": T0.isoformat(), "beds": beds}  # fmt: skip
    crew = {"event_id": "e1", "incident_id": "I1", "step": "arrived_at_hospital", "category": 2,
            "destination_site": "NOWHERE", "occurred_at": T0.isoformat()}  # fmt: skip
    for kind, document, named in (
        ("carehome", home, "1-NOSUCHHOME"),
        ("ambulance", crew, "NOWHERE"),
    ):
        response = await asgi_client.post(
            f"/api/v1/ingest/{kind}", content=json.dumps(document), headers=ingest
        )
        assert response.status_code == 422, response.text
        assert f"{named!r} is not in the economy" in response.json()["error"]["message"]
