"""Request body limits, enforced before anything reads or parses a body (pure ASGI).

FastAPI reads and parses a JSON body before any dependency — authentication included — runs,
and Starlette buffers whatever arrives: without a limit, one unauthenticated request can hold
gigabytes. Here a body is refused with 413 at once when its Content-Length is over the route's
limit, and otherwise the moment the stream passes it (bytes are counted as they arrive, never
buffered here). Ingest routes take the configured ingest maximum; every other route 1 MiB.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_LIMIT = 1 << 20
INGEST_PREFIX = "/api/v1/ingest/"


class BodyLimit:
    def __init__(self, app: ASGIApp, *, ingest_limit: int, default_limit: int = JSON_LIMIT) -> None:
        self.app = app
        self.ingest_limit = ingest_limit
        self.default_limit = default_limit

    def limit_for(self, path: str) -> int:
        return self.ingest_limit if path.startswith(INGEST_PREFIX) else self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised where the app reads: the error handlers answer 413.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> str:
    return f"the request body is over this route's limit of {limit:,} bytes"


async def _refuse(send: Send, limit: int) -> None:
    body = {"error": {"code": "payload_too_large", "message": _too_large(limit), "details": None}}
    response = JSONResponse(body, status_code=413, headers={"Connection": "close"})
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
