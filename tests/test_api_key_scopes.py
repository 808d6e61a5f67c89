"""API key scopes are enforced (issue #16): a read key limited to a site sees that site and
nothing else (404 outside, as for a site manager); an ingest key limited to a trust's site may
write only what concerns that site — checked on every decoded event — and gets 403 otherwise."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from tests.factories import hl7
from tests.support import bearer
from tests.support.clock import T0
from tests.support.services import isolated_kafka, live_server

pytestmark = pytest.mark.usefixtures("clean_db")


async def _key(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> dict[str, str]:
    created = await client.post("/api/v1/api-keys", json={"name": "k", **body}, headers=admin)
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}


async def test_a_read_key_sees_only_its_scope(asgi_client: httpx.AsyncClient) -> None:
    admin = await bearer(asgi_client, "admin")
    ran = await _key(asgi_client, admin, role="integration_read", sites=["RAN01"])
    status = {
        path: (await asgi_client.get(path, headers=ran)).status_code
        for path in ("/api/v1/sites/RAN01", "/api/v1/sites/RWV01", "/api/v1/system",
                     "/api/v1/sites/RWV01/flow", "/api/v1/dead-letters")
    }  # fmt: skip
    assert status == {"/api/v1/sites/RAN01": 200, "/api/v1/sites/RWV01": 404,
                      "/api/v1/system": 404, "/api/v1/sites/RWV01/flow": 404,
                      "/api/v1/dead-letters": 403}  # fmt: skip
    levels = (await asgi_client.get("/api/v1/escalation", headers=ran)).json()["levels"]
    assert {level["scope"] for level in levels} == {"RAN01"}
    la = await _key(asgi_client, admin, role="integration_read", local_authorities=["E06000901"])
    for authority, expected in (("E06000901", 200), ("E10000902", 404)):
        homes = await asgi_client.get(f"/api/v1/care-homes?local_authority={authority}", headers=la)
        assert homes.status_code == expected, homes.text
    assert (await asgi_client.get("/api/v1/sites/RAN01", headers=la)).status_code == 404
    unscoped = await _key(asgi_client, admin, role="integration_read")
    assert (await asgi_client.get("/api/v1/system", headers=unscoped)).status_code == 200


async def test_an_ingest_key_writes_only_for_its_sites(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    at = T0.isoformat()
    cases = [  # kind, body, status
        ("hl7v2", hl7("A01", 0, visit="S1"), 202),
        ("hl7v2", hl7("A01", 0, visit="S2").replace(b"|PAS|RAN|", b"|PAS|RWV|", 1), 403),
        ("hl7v2", hl7("A01", 0, visit="S3", site="RWV01"), 403),  # RAN placing into RWV01
        ("ambulance", {"event_id": "a1", "incident_id": "I1", "step": "arrived_at_hospital",
                       "category": 2, "destination_site": "RAN01", "occurred_at": at}, 202),
        ("ambulance", {"event_id": "a2", "incident_id": "I2", "step": "arrived_at_hospital",
                       "category": 2, "destination_site": "RWV01", "occurred_at": at}, 403),
        ("discharge", {"event_id": "d1", "spell_id": "RAN:VN:S1", "status": "ready",
                       "occurred_at": at}, 202),
        ("discharge", {"event_id": "d2", "spell_id": "RWV:VN:S9", "status": "ready",
                       "local_authority": "E06000901", "occurred_at": at}, 403),
        ("carehome", {"report_id": "r1", "home_code": "1-100000000", "open_to_admissions": True,
                      "reported_at": at, "beds": [{"bed_type": "nursing", "capacity": 10,
                                                   "occupied": 8, "vacant": 2}]}, 403),
    ]  # fmt: skip
    async with (
        live_server(isolated_kafka(settings)) as base,
        httpx.AsyncClient(base_url=f"http://{base}") as client,
    ):
        admin = await bearer(client, "admin")
        key = await _key(client, admin, role="integration_ingest", sites=["RAN01"])
        got = []
        for kind, body, _ in cases:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            answer = await client.post(f"/api/v1/ingest/{kind}", content=content, headers=key)
            got.append(answer.status_code)
            if answer.status_code == 403:
                assert "this key writes for" in answer.json()["error"]["message"]
    assert got == [status for _, _, status in cases]
