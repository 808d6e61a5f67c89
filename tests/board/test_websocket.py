"""The websocket board against a real uvicorn: auth first, snapshot, then deltas in order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.ingest.topics import ADT_HL7V2
from tests.conftest import isolated_kafka, live_server
from tests.factories import hl7

pytestmark = pytest.mark.usefixtures("clean_db")


async def login(base: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.post("/api/v1/auth/dev-login", json={"username": username})
    response.raise_for_status()
    return str(response.json()["access_token"])


async def next_of(ws: ClientConnection, kind: str, within: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame  # type: ignore[no-any-return]


async def test_snapshot_then_a_delta_when_an_admission_arrives_on_kafka(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    app_settings = isolated_kafka(settings)
    async with live_server(app_settings) as base:
        token = await login(base, "sm.anyborough")
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            ready = await next_of(ws, "ready")
            assert ready["landing_view"] == "site:RAN01"
            await ws.send(json.dumps({"type": "subscribe", "view": "site:RAN01"}))
            snapshot = await next_of(ws, "snapshot")
            assert snapshot["data"]["beds"]["RAN01:AMU:B03"]["occupied"] is False

            producer = KafkaProducer(bootstrap_servers=app_settings.kafka.bootstrap_servers)
            topic = app_settings.kafka.topic(ADT_HL7V2)
            producer.send(topic, key=b"V9", value=hl7("A01", 0, bed="B03", visit="V9"))
            producer.flush()
            producer.close()

            delta = await next_of(ws, "delta")
            assert delta["seq"] > snapshot["seq"]
            beds = {c["key"]: c["data"] for c in delta["changes"] if c["kind"] == "bed"}
            assert beds["RAN01:AMU:B03"]["occupied"] is True


async def test_the_socket_refuses_a_forged_token_and_foreign_views(
    settings: Settings,
) -> None:
    async with live_server(settings) as base:
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": "not-a-jwt"}))
            error = await next_of(ws, "error")
            assert error["code"] == "unauthorized"
        token = await login(base, "sm.westvale")
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await next_of(ws, "ready")
            await ws.send(json.dumps({"type": "subscribe", "view": "site:RAN01"}))
            error = await next_of(ws, "error")
            assert error["code"] == "forbidden"
