"""The websocket board protocol (``/ws``).

    client → {"type": "auth", "token": "<jwt>"}               first, within 10 s
    client → {"type": "subscribe", "view": "site:RAN01"}       views the role may see
    server → {"type": "snapshot", "view", "seq", "data"}       then, in order:
    server → {"type": "delta", "view", "seq", "changes": [...]}
    server → {"type": "resync", "views": [...]}                 fell behind: resubscribe
    either → {"type": "ping"} / {"type": "pong"}                heartbeats both ways
    server → {"type": "error", "code", "message"}               refused request
A client that sees a gap in a view's seq sends {"type": "resync", "view"} for a new snapshot.
A client message is one JSON object of at most 16 KiB (the socket itself refuses frames over
64 KiB) of the protocol's shapes (app/board/protocol.py; docs/board-protocol.md); a view name is
``system`` or ``<kind>:<code>`` with a short code; a client holds at most 32 views. Anything else
is answered with an error frame, and the connection goes on.
Each client has a bounded queue (FLOWCC_BOARD_QUEUE_FRAMES): on overflow its backlog becomes one
resync; one that takes no frame for FLOWCC_BOARD_SEND_TIMEOUT_SECONDS is dropped. Neither delays
others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from prometheus_client import Counter
from pydantic import ValidationError

from app.auth.apikeys import authenticate
from app.auth.schemas import Principal
from app.auth.tokens import token_expiry
from app.board.hub import BoardClient, BoardHub
from app.board.protocol import (
    MESSAGES,
    AuthMessage,
    ClientMessage,
    ErrorFrame,
    HeartbeatMessage,
    PongFrame,
    ReadyFrame,
    SubscribeMessage,
    UnsubscribeMessage,
)
from app.board.snapshots import SnapshotBuilds
from app.board.wire import preframed_sender, wire_of
from app.deps import Resources
from app.errors import AppError
from app.logging import get_logger

router = APIRouter()
MAX_CLIENT_MESSAGE = 16_384
MAX_VIEWS = 32
DROPPED = Counter("flowcc_board_dropped_total", "Board clients dropped for not reading")
log = get_logger(__name__)


@router.websocket("/ws")
async def board_socket(websocket: WebSocket) -> None:
    resources: Resources = websocket.app.state.resources
    hub: BoardHub = websocket.app.state.hub
    if not origin_allowed(websocket.headers, resources.settings.board_origins):
        await websocket.close(code=1008, reason="origin not allowed")  # before accept: 403
        return
    await websocket.accept()
    authenticated = await _authenticate(websocket, resources)
    if authenticated is None:
        return
    principal, token = authenticated
    client = BoardClient(queue_size=resources.settings.board_queue_frames)
    ready = ReadyFrame(
        type="ready",
        principal=principal,
        permissions=principal.permissions(),
        landing_view=principal.landing_view(),
    )
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_text(ready.model_dump_json())
    hub.connect(client)
    timeout = resources.settings.board_send_timeout_seconds
    sender = asyncio.create_task(_send_loop(websocket, client, timeout))
    connection = Connection(client, hub, websocket.app.state.snapshots, principal)
    receiver = asyncio.create_task(_receive_loop(websocket, connection))
    guard = asyncio.create_task(_session_guard(websocket, token, resources))
    tasks = (sender, receiver, guard)
    try:  # whichever ends first (client gone, dropped, session over) ends the others
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.disconnect(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def origin_allowed(headers: Mapping[str, str], allowed: list[str]) -> bool:
    """A browser page may open the socket only from the boards' own origin or an allowed one
    (a page elsewhere would ride the user's session: cross-site websocket hijacking). A client
    that is not a browser sends no Origin; it still has to authenticate."""
    origin = headers.get("origin")
    if origin is None or origin in allowed:
        return True
    return urlsplit(origin).netloc.lower() == (headers.get("host") or "").lower()


async def _session_guard(websocket: WebSocket, token: str, resources: Resources) -> None:
    """End the session when its token expires, or when its credentials no longer pass (an API
    key revoked): checked every FLOWCC_BOARD_REVALIDATE_SECONDS."""
    expires = token_expiry(token)
    every = resources.settings.board_revalidate_seconds
    while True:
        left = None if expires is None else expires - time.time()
        await asyncio.sleep(every if left is None else max(0.0, min(every, left)))
        expired = "session expired: sign in again"
        if expires is not None and time.time() >= expires:
            reason = expired
            break
        try:
            await authenticate(token, resources.settings.auth, resources.sessionmaker)
        except AppError as error:  # a wake-up a hair before exp finds the token just expired
            reason = expired if error.message == "token expired" else error.message
            break
    await _refuse(websocket, reason)


async def _refuse(websocket: WebSocket, reason: str) -> None:
    """Say why, then close the connection as unauthorized (4401)."""
    with contextlib.suppress(Exception):
        frame = ErrorFrame(type="error", code="unauthorized", message=reason)
        await websocket.send_text(frame.model_dump_json())
        await websocket.close(code=4401, reason="unauthorized")


async def _receive_loop(websocket: WebSocket, connection: Connection) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = client_message(await websocket.receive_text())
            if isinstance(message, str):
                connection.error("bad_request", message)
                continue
            # Shielded: a drop never interrupts a snapshot's query half-way (the pool's
            # connection stays usable); the loop ends at the next message instead.
            await asyncio.shield(connection.handle(message))


def client_message(text: str) -> ClientMessage | str:
    """A client's message, or why it is not one (not one small JSON object of the protocol)."""
    if len(text) > MAX_CLIENT_MESSAGE:
        return "a message is one JSON object of at most 16 KiB"
    try:
        return MESSAGES.validate_json(text)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        if where.endswith("view"):
            return "a view is 'system' or '<kind>:<code>' with a code of at most 40 characters"
        return f"not a protocol message ({where or 'message'}: {first['msg']})"
    except RecursionError:
        return "a message is one JSON object of at most 16 KiB"


async def _authenticate(websocket: WebSocket, resources: Resources) -> tuple[Principal, str] | None:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), timeout=10)
    except (TimeoutError, WebSocketDisconnect):
        await _refuse(websocket, "authentication timed out")
        return None
    message = client_message(text)
    if not isinstance(message, AuthMessage):
        await _refuse(websocket, "the first message must be {type: auth, token}")
        return None
    try:
        principal = await authenticate(
            message.token, resources.settings.auth, resources.sessionmaker
        )
    except AppError as error:
        await _refuse(websocket, error.message)
        return None
    return principal, message.token


@dataclass(frozen=True)
class Connection:
    """One signed-in board client: what its messages may ask for, and where answers go."""

    client: BoardClient
    hub: BoardHub
    builds: SnapshotBuilds
    principal: Principal

    async def handle(self, message: ClientMessage) -> None:
        match message:
            case HeartbeatMessage(type="ping"):
                self.client.offer(PongFrame(type="pong", t=time.time()).model_dump_json())
            case SubscribeMessage():
                await self.subscribe(message.view)
            case UnsubscribeMessage():
                self.hub.unsubscribe(self.client, message.view)
            case AuthMessage():
                self.error("bad_request", "already authenticated")

    async def subscribe(self, view: str) -> None:
        """Register for the view's deltas first, then send a snapshot holding all before them."""
        if view not in self.client.views and len(self.client.views) >= MAX_VIEWS:
            self.error("bad_request", f"at most {MAX_VIEWS} views per connection", view)
            return
        if not self.principal.may_see_view(view):
            self.error("forbidden", f"role {self.principal.role} may not see {view}", view)
            return
        seq = self.hub.subscribe(self.client, view)
        try:
            frame = await self.builds.frame(view, seq)
        except AppError as error:
            self.hub.unsubscribe(self.client, view)
            self.error(error.code, error.message, view)
            return
        self.client.offer(frame)

    def error(self, code: str, message: str, view: str | None = None) -> None:
        frame = ErrorFrame(type="error", code=code, message=message, view=view)
        self.client.offer(frame.model_dump_json(exclude_none=True))


async def _send_loop(websocket: WebSocket, client: BoardClient, send_timeout: float) -> None:
    """Drain the client's queue into the socket. A client that stops reading blocks only this
    task; its queue overflows into a resync (hub), and a frame it has not taken within
    ``send_timeout`` seconds closes the connection. (An idle client is pinged by the hub.)"""
    # asyncio.timeout rather than wait_for: no task per frame per client (a tenth of the
    # process's time at 1,000 clients went on creating them); and a timer only when a write
    # has to wait (arming one per frame was a tenth again).
    preframed = preframed_sender(websocket.scope)
    client.write_now = None if preframed is None else preframed.write
    while True:
        frame = client.queue.get_nowait() if not client.queue.empty() else await client.queue.get()
        client.sending = True  # until written: a frame offered meanwhile queues behind it
        try:
            if preframed is None:
                async with asyncio.timeout(send_timeout):
                    await websocket.send_text(frame)
                continue
            # The bytes framed once for every client (app/board/wire.py).
            data = wire_of(frame)
            if not preframed.write(data):
                async with asyncio.timeout(send_timeout):
                    await preframed.send(data)
        except TimeoutError:
            DROPPED.inc()
            log.info("board_client_dropped", client=client.id, reason="not reading")
            return  # the endpoint returns; the server closes (and, if need be, aborts) the socket
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the connection is gone; the receive loop ends and cleans up
        finally:
            client.sending = False
