"""Board frames written to the socket as pre-framed bytes (issue #17, lever 4; ADR 0006).

A delta frame goes to every subscriber of its view. Through ASGI each client's copy is encoded
to UTF-8, framed by ``websockets`` and passed down Starlette's and uvicorn's send layers: about
0.1 ms per frame per client, ~40 % of the board process's time with 1,000 clients at 200 ADT
events/s (py-spy, 2026-12-01), against ~0.02 ms for ``websockets.broadcast()`` writing the same
pre-framed bytes to each transport. So a frame is framed once (``Encoded.wire``: the library's
own ``Frame.serialize``) and each client's sender writes those bytes to its connection.

The write needs the connection's transport, which ASGI does not expose: ``BoardWebSocketProtocol``
(uvicorn's websockets-sansio protocol, chosen by ``flowcc serve`` with ``ws=``) offers it as a
server extension in the scope, ``flowcc.preframed`` (``Preframed``: write now, or wait for
room). It honours the transport's flow control as uvicorn's own send does (waits while the
buffer is above its high water mark) and refuses a closed connection. A frame written at once
needs no timer; only a wait for room is bounded by the board's send timeout. Under any other
server (the ASGI test client, plain ``uvicorn app.main:create_app``) the extension is absent
and frames go through ``send_text``: the same bytes on the wire, only slower.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from prometheus_client import Counter
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

EXTENSION = "flowcc.preframed"
PROTOCOL = "app.board.wire:BoardWebSocketProtocol"  # uvicorn's ws= for `flowcc serve`
PREFRAMED = Counter(
    "flowcc_board_preframed_connections_total",
    "Board connections offered pre-framed writes (frames not sent through ASGI)",
)
SendWire = Callable[[bytes], Awaitable[None]]
WriteNow = Callable[[bytes], bool]


@dataclass(frozen=True)
class Preframed:
    """The connection's pre-framed writes: ``write`` writes at once and returns True, or
    returns False when the transport's buffer is full (then ``send`` waits for room)."""

    write: WriteNow
    send: SendWire


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


def wire_of(frame: str) -> bytes:
    """A frame's bytes on the socket: made once for an ``Encoded`` frame, else now."""
    return frame.wire if isinstance(frame, Encoded) else framed(frame)


def preframed_sender(scope: Mapping[str, Any]) -> Preframed | None:
    """The connection's pre-framed writes, when the server offers them."""
    extension = (scope.get("extensions") or {}).get(EXTENSION)
    found = extension.get("writer") if isinstance(extension, dict) else None
    return found if isinstance(found, Preframed) else None


class BoardWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, plus the ``flowcc.preframed`` scope extension.
    Only unfragmented, uncompressed text frames are written this way: ``flowcc serve`` turns
    per-message deflate off (a compressed connection is never offered the extension)."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.config.ws_per_message_deflate:
            writer = Preframed(write=self.write_preframed, send=self.send_preframed)
            scope["extensions"][EXTENSION] = {"writer": writer}
            PREFRAMED.inc()

    def write_preframed(self, data: bytes) -> bool:
        if not self.writable.is_set():  # the transport's buffer is above its high water mark
            return False
        if self.disconnected or self.close_sent or self.transport.is_closing():
            raise ClientDisconnected()
        self.transport.write(data)
        return True

    async def send_preframed(self, data: bytes) -> None:
        while not self.write_preframed(data):
            await self.writable.wait()
