"""Fan-out across API processes over PostgreSQL LISTEN/NOTIFY (ADR 0005).

Every API process consumes its share of the Kafka partitions and serves its own websocket
clients. After a consumer batch commits, its deltas go to this process's engine and hub and, as
NOTIFY payloads on one channel, to every other process, which hands them to its own engine and
hub. Each process's engine computes the derived views (metrics, OPEL, discharge lists) for its
own clients; only the *leader* — the holder of a PostgreSQL advisory lock — writes OPEL state,
history and metric samples, and tells the others (a touch) when it changed a level.

A NOTIFY payload is at most 8,000 bytes: deltas are packed into payloads under that; a delta too
big for one payload is replaced by a resync of its view. If the listening connection is lost,
deltas may have been missed, so every local client is told to resync once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge

from app.changes import Delta
from app.logging import get_logger

log = get_logger(__name__)
CHANNEL = "flowcc_board"
PAYLOAD_LIMIT = 7_900  # bytes; PostgreSQL refuses NOTIFY payloads of 8,000 or more
LEADER_LOCK = 0x464C4F57  # pg_advisory_lock key ('FLOW'): the engine's writer
RETRY_SECONDS = 2.0

SENT = Counter("flowcc_fanout_payloads_sent_total", "NOTIFY payloads sent to other processes")
RECEIVED = Counter("flowcc_fanout_payloads_received_total", "NOTIFY payloads from other processes")
LEADER = Gauge("flowcc_engine_leader", "1 if this process writes OPEL state and samples")

Deliver = Callable[[list[Delta]], Awaitable[None]]


def pack(origin: str, deltas: list[Delta]) -> list[str]:
    """JSON payloads of at most PAYLOAD_LIMIT bytes each, in order (each delta encoded once)."""
    payloads: list[str] = []
    batch: list[str] = []
    resync: list[str] = []
    size = 0
    for delta in deltas:
        item = json.dumps([delta.view, delta.kind, delta.key, delta.data], default=str)
        length = len(item.encode()) + 1
        if length > PAYLOAD_LIMIT - 200:
            resync.append(delta.view)
            continue
        if size + length > PAYLOAD_LIMIT - 200:
            payloads.append(_payload(origin, batch, []))
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch or resync:
        payloads.append(_payload(origin, batch, sorted(set(resync))))
    return payloads


def _payload(origin: str, items: list[str], resync: list[str]) -> str:
    """``{"o": origin, "d": [delta, ...], "r": [view, ...]}``, the origin first (a process
    knows its own payloads by their first bytes)."""
    return f'{_origin_prefix(origin)},"d":[{",".join(items)}],"r":{json.dumps(resync)}}}'


def _origin_prefix(origin: str) -> str:
    return '{"o":' + json.dumps(origin)


def unpack(payload: str) -> tuple[str, list[Delta], list[str]]:
    body = json.loads(payload)
    deltas = [Delta(view, kind, key, data) for view, kind, key, data in body["d"]]
    return body["o"], deltas, list(body.get("r") or [])


class Fanout:
    def __init__(
        self,
        dsn: str,
        deliver: Deliver,
        resync: Callable[[list[str] | None], None],
        *,
        listen: bool = True,
    ) -> None:
        """``listen=False``: a consumer-only process (``flowcc consume``) that sends its
        committed deltas to the board processes, serves no board and never leads."""
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.deliver, self.resync = deliver, resync
        self.listen = listen
        self.origin = uuid.uuid4().hex
        self._mine = _origin_prefix(self.origin)
        self.leader = False
        self._connection: asyncpg.Connection[Any] | None = None
        self._lock = asyncio.Lock()  # one query at a time on the connection
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        # Payloads to send, in commit order: a consumer hands its batch's deltas over and goes
        # on with its next batch (one round trip fewer on its path); one NOTIFY statement
        # sends whatever has gathered.
        self._outbox: asyncio.Queue[list[str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._connect()
        self._tasks = [
            asyncio.create_task(self._drain(), name="fanout-inbox"),
            asyncio.create_task(self._watch(), name="fanout-watch"),
            asyncio.create_task(self._send_forever(), name="fanout-outbox"),
        ]

    async def close(self) -> None:
        """Send what is queued (for a few seconds at most), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._outbox.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
        self._set_leader(False)

    async def send(self, deltas: list[Delta]) -> None:
        """Hand committed deltas to every other process: queued here, in order, and sent by
        the outbox task (never raises: a lost payload only delays the other processes' boards
        until their next resync)."""
        if deltas:
            self._outbox.put_nowait(pack(self.origin, deltas))

    async def _send_forever(self) -> None:
        while True:
            payloads = await self._outbox.get()
            taken = 1
            while not self._outbox.empty():  # whatever gathered meanwhile: one statement
                payloads += self._outbox.get_nowait()
                taken += 1
            try:
                await self._notify(payloads)
            except Exception:  # the outbox must outlive anything one send meets
                log.exception("fanout_send_failed", payloads=len(payloads))
            finally:
                for _ in range(taken):
                    self._outbox.task_done()

    async def _notify(self, payloads: list[str]) -> None:
        try:
            async with self._lock:
                if self._connection is None or self._connection.is_closed():
                    raise ConnectionError("the fan-out connection is closed")
                await self._connection.execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", CHANNEL, payloads
                )
            SENT.inc(len(payloads))
        except (OSError, ConnectionError, asyncpg.PostgresError) as error:
            log.warning("fanout_send_failed", error=str(error), payloads=len(payloads))

    # ------------------------------------------------------------------ internals

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self.dsn, timeout=10)
        if self.listen:
            await connection.add_listener(CHANNEL, self._on_notify)
        self._connection = connection
        if self.listen:
            await self._try_lead()

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        text = str(payload)
        if not text.startswith(self._mine):  # its own come back too: not decoded to be dropped
            self._inbox.put_nowait(text)

    async def _drain(self) -> None:
        while True:
            payload = await self._inbox.get()
            try:
                origin, deltas, resync = unpack(payload)
            except (ValueError, KeyError, TypeError) as error:
                log.warning("fanout_bad_payload", error=str(error))
                continue
            if origin == self.origin:
                continue
            RECEIVED.inc()
            if resync:
                self.resync(resync)
            if deltas:
                try:
                    await self.deliver(deltas)
                except Exception:  # the inbox must outlive anything one delivery meets
                    log.exception("fanout_deliver_failed", deltas=len(deltas))

    async def _watch(self) -> None:
        """Reconnect a lost connection (then resync every client); keep trying to lead."""
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                if self._connection is None or self._connection.is_closed():
                    self._set_leader(False)
                    await self._connect()
                    self.resync(None)
                    log.info("fanout_reconnected", leader=self.leader)
                elif self.listen and not self.leader:
                    await self._try_lead()
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("fanout_unavailable", error=str(error))

    async def _try_lead(self) -> None:
        async with self._lock:
            assert self._connection is not None
            won = await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK)
        if won and not self.leader:
            log.info("engine_leader", origin=self.origin)
        self._set_leader(bool(won))

    def _set_leader(self, leader: bool) -> None:
        self.leader = leader
        LEADER.set(1 if leader else 0)
