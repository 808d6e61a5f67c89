"""Helpers for talking to the board as a client does: sign in, read frames, admit a patient."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from kafka import KafkaProducer
from websockets.asyncio.client import ClientConnection

from app.board.protocol import FRAMES
from app.config import Settings
from app.topics import ADT_HL7V2
from tests.factories import hl7


async def login(base: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.post("/api/v1/auth/dev-login", json={"username": username})
    response.raise_for_status()
    return str(response.json()["access_token"])


async def next_of(ws: ClientConnection, kind: str, within: float = 20) -> dict[str, Any]:
    """The next frame of this type; every frame read on the way must be one of the protocol's
    (app/board/protocol.py: its published schema), or the test fails."""
    async with asyncio.timeout(within):
        while True:
            text = await ws.recv()
            assert isinstance(text, str), "the board sends text frames"
            frame = json.loads(text)
            typed = FRAMES.dump_python(FRAMES.validate_json(text), mode="json", exclude_unset=True)
            assert typed == frame, f"a frame not of the protocol's shapes: {text[:300]}"
            if frame["type"] == kind:
                return frame  # type: ignore[no-any-return]


def admit(settings: Settings, bed: str, visit: str) -> None:
    """An admission to a bed of RAN01's AMU, on Kafka."""
    producer = KafkaProducer(**settings.kafka.client_options())
    producer.send(
        settings.kafka.topic(ADT_HL7V2),
        key=visit.encode(),
        value=hl7("A01", 0, bed=bed, visit=visit),
    )
    producer.flush()
    producer.close()
