"""POST /api/v1/ingest/{kind} validates and goes through Kafka; GET /api/v1/dead-letters lists."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from tests.conftest import isolated_kafka, live_server
from tests.factories import T0, hl7

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
