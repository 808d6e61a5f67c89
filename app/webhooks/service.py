"""Webhooks on escalation changes: enqueue in the transaction of the change (an outbox), sign
with HMAC-SHA256, send and retry with exponential backoff, keep every attempt's outcome.

Receivers verify ``X-FlowCC-Signature: sha256=<hex>`` = HMAC-SHA256(secret,
``<X-FlowCC-Timestamp>.<raw body>``) and may refuse old timestamps (replay).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.changes import JsonObject
from app.logging import get_logger
from app.webhooks.models import Webhook, WebhookDelivery
from app.webhooks.policy import UrlRefused, check_url
from app.webhooks.repository import WebhookRepository

log = get_logger(__name__)
MAX_ATTEMPTS = 10
FIRST_RETRY_SECONDS = 1.0  # then 2, 4, 8 ... capped at MAX_RETRY_SECONDS
MAX_RETRY_SECONDS = 3600.0
LEASE = timedelta(seconds=60)  # a claimed delivery is not re-sent by another process meanwhile
POLL_SECONDS = 1.0
SEND_TIMEOUT = httpx.Timeout(10.0)
TOTAL_SECONDS = 15.0  # a receiver that trickles bytes cannot hold a delivery longer
ERROR_BYTES = 500  # of a failed answer, kept for the delivery log (never more is read)

ATTEMPTS = Counter("flowcc_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])


async def enqueue(session: AsyncSession, event: str, scope: str, data: JsonObject) -> int:
    """Add one delivery per subscribed webhook, in the caller's transaction."""
    repo = WebhookRepository(session)
    now = datetime.now(UTC)
    hooks = await repo.subscribed(event, scope)
    for hook in hooks:
        payload = {"event": event, "scope": scope, "data": data, "sent_for": now.isoformat()}
        repo.add(WebhookDelivery(webhook_id=hook.id, event=event, payload=payload,
                                 status="pending", attempts=0, next_attempt_at=now))  # fmt: skip
    return len(hooks)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempts - 1)))


async def run_dispatcher(
    sessionmaker: async_sessionmaker[AsyncSession], allow: Sequence[str] = ()
) -> None:
    """Send due deliveries forever (every process may run it: claims skip locked rows)."""
    async with httpx.AsyncClient(timeout=SEND_TIMEOUT, follow_redirects=False) as client:
        while True:
            try:
                sent = await dispatch_once(sessionmaker, client, allow)
            except Exception as error:
                log.warning("webhook_dispatch_failed", error=repr(error))
                sent = 0
            if not sent:
                await asyncio.sleep(POLL_SECONDS)


async def dispatch_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    allow: Sequence[str] = (),
) -> int:
    async with sessionmaker() as session, session.begin():
        claimed = await WebhookRepository(session).claim_due(
            datetime.now(UTC), limit=20, lease=LEASE
        )
        work = [(d.id, d.event, d.payload, hook.url, hook.secret) for d, hook in claimed]
    results = await asyncio.gather(*(_send(client, allow, *item) for item in work))
    async with sessionmaker() as session, session.begin():
        repo = WebhookRepository(session)
        for (delivery_id, *_), (code, error) in zip(work, results, strict=True):
            row = await repo.delivery(delivery_id)
            if row is not None:
                _record(row, code, error)
    return len(work)


async def _send(
    client: httpx.AsyncClient, allow: Sequence[str], delivery_id: int, event: str,
    payload: JsonObject, url: str, secret: str,
) -> tuple[int | None, str | None]:  # fmt: skip
    try:
        await check_url(url, allow)  # again: the name may resolve elsewhere since registration
    except UrlRefused as refused:
        return None, f"refused by the webhook URL policy: {refused}"[:ERROR_BYTES]
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "flowcc-webhooks/1",
        "X-FlowCC-Event": event,
        "X-FlowCC-Delivery": str(delivery_id),
        "X-FlowCC-Timestamp": timestamp,
        "X-FlowCC-Signature": sign(secret, timestamp, body),
    }
    try:
        async with asyncio.timeout(TOTAL_SECONDS):
            return await _post(client, url, body, headers)
    except (httpx.HTTPError, TimeoutError) as error:
        return None, f"{type(error).__name__}: {error}"[:ERROR_BYTES]


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str | None]:
    """The status, and at most ERROR_BYTES of a failed answer (the rest is never read)."""
    async with client.stream("POST", url, content=body, headers=headers) as response:
        if response.is_success:
            return response.status_code, None
        kept = b""
        async for chunk in response.aiter_raw():
            kept += chunk[: ERROR_BYTES - len(kept)]
            if len(kept) >= ERROR_BYTES:
                break
        return response.status_code, kept.decode("utf-8", "replace")


def _record(row: WebhookDelivery, code: int | None, error: str | None) -> None:
    row.attempts += 1
    row.last_status_code, row.last_error = code, error
    now = datetime.now(UTC)
    if code is not None and 200 <= code < 300:
        row.status, row.delivered_at = "delivered", now
        ATTEMPTS.labels("delivered").inc()
    elif row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        ATTEMPTS.labels("failed").inc()
    else:
        row.next_attempt_at = now + backoff(row.attempts)
        ATTEMPTS.labels("retry").inc()


def new_webhook(url: str, events: list[str], scopes: list[str], creator: str) -> Webhook:
    return Webhook(url=url, secret=secrets.token_urlsafe(32), events=events, scopes=scopes,
                   active=True, created_by=creator)  # fmt: skip
