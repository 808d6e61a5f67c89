"""Pre-framed board frames (app/board/wire.py): the bytes written once for every client are
exactly the websocket text frame a client reads back as the frame's text."""

from __future__ import annotations

import json

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from app.board.hub import HEARTBEAT_SECONDS, BoardClient, BoardHub, encode
from app.board.wire import EXTENSION, Encoded, Preframed, framed, preframed_sender
from app.changes import Delta


def _read_back(data: bytes) -> list[Frame]:
    """What a real websockets client parses out of these bytes."""
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(data)
    return [event for event in client.events_received() if isinstance(event, Frame)]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x" * 125,  # the longest 7-bit length
        "y" * 126,  # 16-bit length
        "z" * 65_535,
        "w" * 65_536,  # 64-bit length
        json.dumps({"bed": "RAN01:AMU:B03", "name": "Zoë Ørsted — 病床"}, ensure_ascii=False),
    ],
)
def test_a_frame_framed_once_reads_back_as_its_text(text: str) -> None:
    frames = _read_back(framed(text))
    assert [(f.opcode, f.fin, bytes(f.data).decode()) for f in frames] == [
        (Opcode.TEXT, True, text)
    ]


def test_frames_back_to_back_on_one_connection_read_back_in_order() -> None:
    texts = ['{"type":"ping"}', "a" * 300, '{"type":"delta"}']
    frames = _read_back(b"".join(framed(t) for t in texts))
    assert [bytes(f.data).decode() for f in frames] == texts


async def test_the_hub_frames_a_frame_once_for_all_its_clients() -> None:
    hub = BoardHub()
    clients = [BoardClient() for _ in range(3)]
    for client in clients:
        hub.connect(client)
        hub.subscribe(client, "site:RAN01")
    await hub.publish([Delta("site:RAN01", "bed", "RAN01:AMU:B03", {"occupied": True})])
    sent = [client.queue.get_nowait() for client in clients]
    assert all(isinstance(frame, Encoded) for frame in sent)
    assert len({id(frame) for frame in sent}) == 1  # one object for every client ...
    wire = sent[0].wire  # type: ignore[attr-defined]
    assert sent[1].wire is wire  # type: ignore[attr-defined]  # ... framed once
    assert [bytes(f.data).decode() for f in _read_back(wire)] == [sent[0]]


def test_encoded_text_is_the_json_text() -> None:
    frame = encode({"type": "delta", "seq": 1})
    assert frame == '{"type":"delta","seq":1}'
    assert json.loads(frame) == {"type": "delta", "seq": 1}


def test_without_the_server_extension_frames_go_through_asgi() -> None:
    assert preframed_sender({"type": "websocket", "extensions": {}}) is None
    assert preframed_sender({"type": "websocket"}) is None
    assert preframed_sender({"type": "websocket", "extensions": {EXTENSION: {}}}) is None

    async def send(data: bytes) -> None: ...

    writer = Preframed(write=lambda data: True, send=send)
    assert preframed_sender({"extensions": {EXTENSION: {"writer": writer}}}) is writer


def test_an_idle_client_is_pinged_and_a_busy_one_is_not() -> None:
    hub = BoardHub()
    idle, busy = BoardClient(), BoardClient()
    for client in (idle, busy):
        hub.connect(client)
    idle.last_offer -= HEARTBEAT_SECONDS + 1
    busy.last_offer -= HEARTBEAT_SECONDS - 5
    assert hub.heartbeat() == 1
    assert [json.loads(idle.queue.get_nowait())["type"]] == ["ping"]
    assert busy.queue.empty()
    assert hub.heartbeat() == 0  # the ping itself was an offer: not pinged again at once


class Socket:
    """A connection's pre-framed write: keeps what it is given while it has room."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.room = True
        self.gone = False

    def write(self, data: bytes) -> bool:
        if self.gone:
            raise ConnectionResetError
        if self.room:
            self.written.append(data)
        return self.room


def test_a_frame_is_written_at_once_unless_something_waits_before_it() -> None:
    """Written in the flush (no task woken per client and frame) while the socket has room and
    nothing is queued or being sent; otherwise queued behind what waits, so the order holds."""
    socket = Socket()
    client = BoardClient(write_now=socket.write)
    first, second, third, fourth = (encode({"n": n}) for n in range(4))
    assert client.offer(first)
    assert socket.written == [first.wire]
    assert client.queue.empty()

    socket.room = False  # the socket's buffer is full: the send loop will wait for room
    assert client.offer(second)
    socket.room = True
    client.offer(third)  # room again, but the second waits before it
    assert [client.queue.get_nowait() for _ in range(2)] == [second, third]

    client.sending = True  # the send loop holds a frame it has not written yet
    client.offer(fourth)
    assert client.queue.get_nowait() == fourth
    client.sending = False

    socket.gone = True  # a closed connection: queued; the send loop finds out and ends
    client.offer('{"type":"pong"}')
    assert client.queue.get_nowait() == '{"type":"pong"}'
    assert socket.written == [first.wire]


async def test_a_hub_writes_one_framing_to_every_client_at_once() -> None:
    hub = BoardHub()
    sockets = [Socket() for _ in range(3)]
    for socket in sockets:
        client = BoardClient(write_now=socket.write)
        hub.connect(client)
        hub.subscribe(client, "site:RAN01")
    await hub.publish([Delta("site:RAN01", "bed", "RAN01:AMU:B03", {"occupied": True})])
    (wire,) = sockets[0].written
    assert all(socket.written == [wire] for socket in sockets)
    assert all(socket.written[0] is wire for socket in sockets)  # framed once
    (frame,) = _read_back(wire)
    assert json.loads(bytes(frame.data))["changes"][0]["key"] == "RAN01:AMU:B03"
