"""Webhooks on escalation changes (issue #5 item 5): a real HTTP receiver that fails once; the
delivery is signed, retried with backoff and logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.main import create_app
from app.webhooks.models import WebhookDelivery
from app.webhooks.service import (
    ERROR_BYTES,
    _post,
    backoff,
    dispatch_once,
    enqueue,
    new_webhook,
)
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
                failing = len(receiver.requests) == 1
                if not failing:  # a receiver slow to answer: its 200 comes after it has the body
                    time.sleep(0.3)
                self.send_response(500 if failing else 200)
                self.end_headers()
                if failing:  # a long error page: the service keeps 500 bytes, reads no more
                    self.wfile.write(b"x" * 100_000)

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
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The app with the test receiver's address allowed (a receiver inside the network)."""
    app = create_app(settings.model_copy(update={"webhook_allow": ["127.0.0.1"]}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        await app.state.flow.ready.wait()
        yield client


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

    # The receiver holds the request before the sender has its answer and commits the outcome:
    # wait for the second attempt to be recorded, then check what was recorded.
    address = f"/api/v1/webhooks/{hook['id']}/deliveries"
    async with asyncio.timeout(30):
        while True:
            log = (await client.get(address, headers=admin)).json()
            if [d["attempts"] for d in log["items"]] != [1]:
                break
            await asyncio.sleep(0.05)
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log["items"]] == [
        ("delivered", 2, 200)
    ]
    await asyncio.sleep(1.5)
    assert len(receiver.requests) == 2  # delivered once: never again, and nothing for RWV01


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/hook", "https only"),
        ("https://127.0.0.1:9/hook", "127.0.0.1 is 127.0.0.1, not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://localhost/hook", "not a public address"),
        ("https://10.1.2.3/hook", "not a public address"),
        ("https://[::1]/hook", "not a public address"),
        ("https://[::ffff:127.0.0.1]/hook", "not a public address"),
        ("https://2130706433/hook", "not a public address"),  # 127.0.0.1 as a number
        ("http://8.8.8.8/hook", "https only"),
        ("https://user:secret@8.8.8.8/hook", "no credentials"),
    ],
)
async def test_a_webhook_into_our_own_network_is_refused(
    asgi_client: AsyncClient, url: str, why: str
) -> None:
    admin = await bearer(asgi_client, "admin")
    answer = await asgi_client.post("/api/v1/webhooks", json={"url": url}, headers=admin)
    assert answer.status_code == 422, answer.text
    assert why in answer.json()["error"]["message"]


async def test_the_policy_is_applied_again_at_every_delivery(
    clean_db: AsyncEngine, receiver: Receiver
) -> None:
    """A webhook registered while its address was allowed (or its name resolved elsewhere) is
    not called once the policy refuses it: the delivery log says why."""
    sessions = async_sessionmaker(clean_db, expire_on_commit=False)
    async with sessions() as session, session.begin():
        hook = new_webhook(receiver.url, ["opel.declared"], [], "admin")
        session.add(hook)
        await session.flush()
        await enqueue(session, "opel.declared", "RAN01", {"level": 4})
    async with httpx.AsyncClient() as http:
        assert await dispatch_once(sessions, http, allow=()) == 1
    async with sessions() as session:
        (delivery,) = (await session.scalars(select(WebhookDelivery))).all()
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("refused by the webhook URL policy: webhooks are sent")
    assert receiver.requests == []


async def test_a_long_error_answer_is_read_no_further_than_it_is_kept(receiver: Receiver) -> None:
    async with httpx.AsyncClient() as http:
        code, error = await _post(http, receiver.url, b"{}", {})
    assert code == 500
    assert error == "x" * ERROR_BYTES
