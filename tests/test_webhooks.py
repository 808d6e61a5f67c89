"""Webhooks on escalation changes (issue #5 item 5): a real HTTP receiver that fails once; the
delivery is signed, retried with backoff and logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from httpx import AsyncClient

from app.webhooks.service import backoff
from tests.support import bearer

pytestmark = pytest.mark.usefixtures("clean_db")


class Receiver:
    """Answers 500 to the first delivery and 200 after; keeps what it received."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.requests) == 1 else 200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
async def client(asgi_client: AsyncClient) -> AsyncClient:
    return asgi_client


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(40).total_seconds() == 3600


async def test_a_declared_level_is_delivered_signed_after_a_retry(
    client: AsyncClient, receiver: Receiver
) -> None:
    admin = await bearer(client, "admin")
    body = {"url": receiver.url, "scopes": ["RAN01"]}
    assert (
        await client.post("/api/v1/webhooks", json=body, headers=await bearer(client, "commander"))
    ).status_code == 403
    created = await client.post("/api/v1/webhooks", json=body, headers=admin)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert "secret" not in str((await client.get("/api/v1/webhooks", headers=admin)).json())

    declare = {"level": 3, "reason": "Two wards closed with norovirus"}
    commander = await bearer(client, "commander")
    answer = await client.post("/api/v1/escalation/RAN01/declare", json=declare, headers=commander)
    assert answer.status_code == 200, answer.text
    other = await client.post("/api/v1/escalation/RWV01/declare", json=declare, headers=commander)
    assert other.status_code == 200  # not a scope this webhook wants

    async with asyncio.timeout(30):
        while len(receiver.requests) < 2:
            await asyncio.sleep(0.1)
    first, second = receiver.requests[:2]
    assert first[1] == second[1]  # the same delivery, retried
    headers, raw = second
    expected = hmac.new(
        hook["secret"].encode(), headers["X-FlowCC-Timestamp"].encode() + b"." + raw, hashlib.sha256
    ).hexdigest()
    assert headers["X-FlowCC-Signature"] == f"sha256={expected}"
    payload = json.loads(raw)
    assert (payload["event"], payload["scope"]) == ("opel.declared", "RAN01")
    assert payload["data"]["declared"]["level"] == 3

    log = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=admin)).json()
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log["items"]] == [
        ("delivered", 2, 200)
    ]
    await asyncio.sleep(1.5)
    assert len(receiver.requests) == 2  # delivered once: never again, and nothing for RWV01
