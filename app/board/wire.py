"""Board frames written to the socket as pre-framed bytes (issue #17, lever 4; ADR 0006).

A delta frame goes to every subscriber of its view. Through ASGI each client's copy is encoded
to UTF-8, framed by ``websockets`` and passed down Starlette's and uvicorn's send layers: about
0.1 ms per frame per client, ~40 % of the board process's time with 1,000 clients at 200 ADT
events/s (py-spy, 2026-12-01), against ~0.02 ms for ``websockets.broadcast()`` writing the same
pre-framed bytes to each transport. So a frame is framed once (``Encoded.wire``: the library's
own ``Frame.serialize``) and each client's sender writes those bytes to its connection.

The write needs the connection's transport, which ASGI does not expose: ``BoardWebSocketProtocol``
(uvicorn's websockets-sansio protocol, chosen by ``flowcc serve`` with ``ws=``) offers it as a
server extension in the scope, ``flowcc.preframed``, holding ``send(bytes)``. It honours the
transport's flow control as uvicorn's own send does (waits while the buffer is above its high
water mark) and refuses a closed connection. Under any other server (the ASGI test client, plain
``uvicorn app.main:create_app``) the extension is absent and frames go through ``send_text``:
the same bytes on the wire, only slower.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from typing import Any

from prometheus_client import Counter
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

EXTENSION = "flowcc.preframed"
PROTOCOL = "app.board.wire:BoardWebSocketProtocol"  # uvicorn's ws= for `flowcc serve`
PREFRAMED = Counter(
    "flowcc_board_preframed_writes_total",
    "Board frames written to a socket as pre-framed bytes (not through ASGI send)",
)
SendWire = Callable[[bytes], Awaitable[None]]


class Encoded(str):
    """A frame's JSON text (it is a ``str``) that also carries its websocket framing, made once
    for every client it is written to."""

    __slots__ = ("__dict__",)

    @cached_property
    def wire(self) -> bytes:
        return framed(self)


def framed(text: str) -> bytes:
    """One unfragmented, unmasked (server → client), uncompressed text frame."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def preframed_sender(scope: Mapping[str, Any]) -> SendWire | None:
    """The connection's pre-framed write, when the server offers it."""
    extension = (scope.get("extensions") or {}).get(EXTENSION)
    return extension.get("send") if isinstance(extension, dict) else None


class BoardWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, plus the ``flowcc.preframed`` scope extension.
    Only unfragmented, uncompressed text frames are written this way: ``flowcc serve`` turns
    per-message deflate off (a compressed connection is never offered the extension)."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.config.ws_per_message_deflate:
            scope["extensions"][EXTENSION] = {"send": self.send_preframed}

    async def send_preframed(self, data: bytes) -> None:
        if not self.writable.is_set():  # the transport's buffer is above its high water mark
            await self.writable.wait()
        if self.disconnected or self.close_sent or not self.handshake_complete:
            raise ClientDisconnected()
        if self.transport.is_closing():
            raise ClientDisconnected()
        self.transport.write(data)
        PREFRAMED.inc()
