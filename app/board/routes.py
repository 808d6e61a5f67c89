"""The websocket board protocol (``/ws``).

    client → {"type": "auth", "token": "<jwt>"}               first, within 10 s
    client → {"type": "subscribe", "view": "site:RAN01"}       views the role may see
    server → {"type": "snapshot", "view", "seq", "data"}       then, in order:
    server → {"type": "delta", "view", "seq", "changes": [...]}
    server → {"type": "resync", "views": [...]}                 fell behind: resubscribe
    either → {"type": "ping"} / {"type": "pong"}                heartbeats both ways
    server → {"type": "error", "code", "message"}               refused request
A client that sees a gap in a view's seq sends {"type": "resync", "view"} for a new snapshot.
Each client has a bounded queue (FLOWCC_BOARD_QUEUE_FRAMES): on overflow its backlog becomes one
resync; one that takes no frame for FLOWCC_BOARD_SEND_TIMEOUT_SECONDS is dropped. Neither delays
others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from prometheus_client import Counter

from app.auth.apikeys import looks_like_api_key, verify_api_key
from app.auth.repository import ApiKeyRepository
from app.auth.schemas import Principal
from app.auth.tokens import verify_token
from app.board.hub import BoardClient, BoardHub, encode
from app.board.snapshots import SnapshotBuilds
from app.deps import Resources
from app.errors import AppError
from app.logging import get_logger

router = APIRouter()
HEARTBEAT_SECONDS = 15.0
DROPPED = Counter("flowcc_board_dropped_total", "Board clients dropped for not reading")
log = get_logger(__name__)


@router.websocket("/ws")
async def board_socket(websocket: WebSocket) -> None:
    resources: Resources = websocket.app.state.resources
    hub: BoardHub = websocket.app.state.hub
    await websocket.accept()
    principal = await _authenticate(websocket, resources)
    if principal is None:
        return
    client = BoardClient(queue_size=resources.settings.board_queue_frames)
    ready = {
        "type": "ready",
        "principal": principal.model_dump(mode="json"),
        "landing_view": principal.landing_view(),
    }
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_json(ready)
    hub.connect(client)
    timeout = resources.settings.board_send_timeout_seconds
    sender = asyncio.create_task(_send_loop(websocket, client, timeout))
    receiver = asyncio.create_task(_receive_loop(websocket, client, hub, resources, principal))
    try:  # whichever ends first (client gone, or dropped for not reading) ends the other
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.disconnect(client)
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)


async def _receive_loop(
    websocket: WebSocket,
    client: BoardClient,
    hub: BoardHub,
    resources: Resources,
    principal: Principal,
) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive_json()
            # Shielded: a drop never interrupts a snapshot's query half-way (the pool's
            # connection stays usable); the loop ends at the next message instead.
            await asyncio.shield(_handle(message, websocket, client, hub, resources, principal))


async def _authenticate(websocket: WebSocket, resources: Resources) -> Principal | None:
    try:
        message = await asyncio.wait_for(websocket.receive_json(), timeout=10)
        if message.get("type") != "auth" or not isinstance(message.get("token"), str):
            raise ValueError("the first message must be {type: auth, token}")
        token = message["token"]
        if looks_like_api_key(token):
            async with resources.sessionmaker() as session, session.begin():
                return await verify_api_key(ApiKeyRepository(session), token)
        return verify_token(resources.settings.auth, token)
    except (TimeoutError, ValueError, AppError, WebSocketDisconnect) as error:
        reason = getattr(error, "message", None) or str(error) or "authentication timed out"
        with contextlib.suppress(Exception):
            await websocket.send_json({"type": "error", "code": "unauthorized", "message": reason})
            await websocket.close(code=4401, reason="unauthorized")
        return None


async def _handle(
    message: dict[str, Any],
    websocket: WebSocket,
    client: BoardClient,
    hub: BoardHub,
    resources: Resources,
    principal: Principal,
) -> None:
    kind = message.get("type")
    view = str(message.get("view", ""))
    if kind == "ping":
        client.offer({"type": "pong", "t": time.time()})
    elif kind == "pong":
        return
    elif kind in ("subscribe", "resync"):
        if not principal.may_see_view(view):
            client.offer(
                {
                    "type": "error",
                    "code": "forbidden",
                    "view": view,
                    "message": f"role {principal.role} may not see {view}",
                }
            )
            return
        seq = hub.subscribe(client, view)
        builds: SnapshotBuilds = websocket.app.state.snapshots
        try:
            frame = await builds.frame(view, seq)
        except AppError as error:
            hub.unsubscribe(client, view)
            client.offer(
                {"type": "error", "code": error.code, "view": view, "message": error.message}
            )
            return
        client.offer(frame)
    elif kind == "unsubscribe":
        hub.unsubscribe(client, view)
    else:
        client.offer({"type": "error", "code": "bad_request", "message": f"unknown type {kind!r}"})


async def _send_loop(websocket: WebSocket, client: BoardClient, send_timeout: float) -> None:
    """Drain the client's queue into the socket. A client that stops reading blocks only this
    task; its queue overflows into a resync (hub), and a frame it has not taken within
    ``send_timeout`` seconds closes the connection."""
    # asyncio.timeout rather than wait_for: no task per frame per client (a tenth of the
    # process's time at 1,000 clients went on creating them).
    while True:
        if client.queue.empty():
            try:
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    frame = await client.queue.get()
            except TimeoutError:
                frame = encode({"type": "ping", "t": time.time()})
        else:
            frame = client.queue.get_nowait()
        try:
            async with asyncio.timeout(send_timeout):
                await websocket.send_text(frame)
        except TimeoutError:
            DROPPED.inc()
            log.info("board_client_dropped", client=client.id, reason="not reading")
            return  # the endpoint returns; the server closes (and, if need be, aborts) the socket
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the connection is gone; the receive loop ends and cleans up
