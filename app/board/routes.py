"""The websocket board protocol (``/ws``).

    client → {"type": "auth", "token": "<jwt>"}               first, within 10 s
    client → {"type": "subscribe", "view": "site:RAN01"}       views the role may see
    server → {"type": "snapshot", "view", "seq", "data"}       then, in order:
    server → {"type": "delta", "view", "seq", "changes": [...]}
    server → {"type": "resync", "views": [...]}                 fell behind: resubscribe
    either → {"type": "ping"} / {"type": "pong"}                heartbeats both ways
    server → {"type": "error", "code", "message"}               refused request
A client that sees a gap in a view's seq sends {"type": "resync", "view"} for a new snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.auth.schemas import Principal
from app.auth.tokens import verify_token
from app.board.hub import BoardClient, BoardHub
from app.board.snapshots import snapshot
from app.deps import Resources
from app.errors import AppError

router = APIRouter()
HEARTBEAT_SECONDS = 15.0


@router.websocket("/ws")
async def board_socket(websocket: WebSocket) -> None:
    resources: Resources = websocket.app.state.resources
    hub: BoardHub = websocket.app.state.hub
    await websocket.accept()
    principal = await _authenticate(websocket, resources)
    if principal is None:
        return
    client = BoardClient()
    hub.connect(client)
    sender = asyncio.create_task(_send_loop(websocket, client))
    try:
        await websocket.send_json(
            {
                "type": "ready",
                "principal": principal.model_dump(mode="json"),
                "landing_view": principal.landing_view(),
            }
        )
        while True:
            message = await websocket.receive_json()
            await _handle(message, websocket, client, hub, resources, principal)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.disconnect(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _authenticate(websocket: WebSocket, resources: Resources) -> Principal | None:
    try:
        message = await asyncio.wait_for(websocket.receive_json(), timeout=10)
        if message.get("type") != "auth" or not isinstance(message.get("token"), str):
            raise ValueError("the first message must be {type: auth, token}")
        return verify_token(resources.settings.auth, message["token"])
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
        try:
            async with resources.sessionmaker() as session:
                data = await snapshot(session, view, websocket.app.state.flow)
        except AppError as error:
            hub.unsubscribe(client, view)
            client.offer(
                {"type": "error", "code": error.code, "view": view, "message": error.message}
            )
            return
        client.offer(
            {"type": "snapshot", "view": view, "seq": seq, "data": data, "at": time.time()}
        )
    elif kind == "unsubscribe":
        hub.unsubscribe(client, view)
    else:
        client.offer({"type": "error", "code": "bad_request", "message": f"unknown type {kind!r}"})


async def _send_loop(websocket: WebSocket, client: BoardClient) -> None:
    while True:
        try:
            frame = await asyncio.wait_for(client.queue.get(), timeout=HEARTBEAT_SECONDS)
        except TimeoutError:
            frame = {"type": "ping", "t": time.time()}
        await websocket.send_json(frame)
