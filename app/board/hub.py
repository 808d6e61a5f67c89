"""In-process fan-out of committed deltas to websocket clients.

Deltas are coalesced on a short interval: if the last frames went more than an interval ago
they go at once; otherwise what arrives within it goes out as ONE frame per view when it ends —
so a burst (a consumer catching up, the engine re-evaluating many sites) costs each client a
bounded number of frames per second. The interval is shaped by load: the time the process's
budget of socket writes per second takes to write one frame to every client, at most the tick
(10 boards: a frame per commit, within a millisecond; 1,000 boards: at most one per tick).
Each frame is stamped with that view's next sequence number and encoded to JSON once for all its
subscribers. Each client has a bounded queue: a client that falls behind has its queue dropped
and is told to resync (reload a snapshot) — memory never grows without bound and a slow client
never delays the others.

Frames are the protocol's (app/board/protocol.py). A delta frame is assembled here from deltas
already dumped to JSON where they were made (re-validating every change on the hot path would
cost more than the rest of the fan-out); tests check the frames on the wire against the schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast

from prometheus_client import Counter, Gauge

from app.board.present import merged_patches, metrics_patch, with_summaries
from app.board.protocol import PingFrame, ResyncFrame
from app.board.wire import Encoded, WriteNow, wire_of
from app.changes import ENGINE_VIEW, Delta, JsonObject

FRAMES = Counter("flowcc_board_frames_total", "Frames queued to board clients")
RESYNCS = Counter("flowcc_board_resyncs_total", "Clients told to resync after falling behind")
CLIENTS = Gauge("flowcc_board_clients", "Connected board clients")

_client_ids = itertools.count(1)
# A client offered nothing for this long is pinged (a quiet socket is closed by some proxies, and
# the client learns the server is alive). Checked every third of it, for all clients at once.
HEARTBEAT_SECONDS = 15.0
# The engine's figures wait for the events' next frame this many frame intervals at most, and
# never more than DERIVED_WAIT seconds (ADR 0006): with few clients they go at once.
DERIVED_INTERVALS = 3
DERIVED_WAIT = 0.1


def encode(frame: JsonObject) -> Encoded:
    """A frame as the text sent on the socket (once per frame, not once per client; its
    websocket framing is made once too: app/board/wire.py)."""
    return Encoded(json.dumps(frame, separators=(",", ":")))


def resync_frame(views: set[str]) -> str:
    return ResyncFrame(type="resync", views=sorted(views)).model_dump_json()


@dataclass(eq=False)
class BoardClient:
    queue_size: int = 256
    id: int = field(default_factory=lambda: next(_client_ids))
    views: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(init=False)
    last_offer: float = field(default_factory=time.monotonic)
    # The connection's pre-framed write when the server offers one (app/board/wire.py): writes
    # at once, or returns False when the socket has no room.
    write_now: WriteNow | None = None
    sending: bool = False  # the client's send loop holds a frame it has not written yet

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.queue_size)

    def offer(self, frame: str) -> bool:
        """Write an encoded frame at once when nothing waits before it and the socket has room
        (no task woken per client and frame: at 1,000 boards a frame reaches the last of them
        within the flush); else queue it for the client's send loop, which waits for room. On
        overflow the backlog is dropped and the client asked to resync instead."""
        self.last_offer = time.monotonic()
        if self.write_now is not None and not self.sending and self.queue.empty():
            with contextlib.suppress(OSError):  # gone: the send loop finds out and ends
                if self.write_now(wire_of(frame)):
                    return True
        try:
            self.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(resync_frame(self.views))
            RESYNCS.inc()
            return False


class BoardHub:
    def __init__(self, tick_seconds: float = 0.0, writes_per_second: float = 0.0) -> None:
        self.seq: dict[str, int] = defaultdict(int)
        self.subscribers: dict[str, set[BoardClient]] = defaultdict(set)
        self.clients: set[BoardClient] = set()
        self.tick = tick_seconds
        self.writes_per_second = writes_per_second  # 0: the whole tick, whatever the load
        # Per view, the latest change of each (kind, key), in the order they last changed:
        # changes carry absolute values, so a later one within a tick supersedes an earlier one.
        self._pending: dict[str, dict[tuple[str, str], JsonObject]] = defaultdict(dict)
        # Per (view, site), the metrics last published: the next carry what changed since.
        self._metrics: dict[tuple[str, str], JsonObject] = {}
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0  # when the timer is due (loop time)
        self._last_flush = float("-inf")

    def connect(self, client: BoardClient) -> None:
        self.clients.add(client)
        CLIENTS.set(len(self.clients))

    def disconnect(self, client: BoardClient) -> None:
        for view in client.views:
            self.subscribers[view].discard(client)
        self.clients.discard(client)
        CLIENTS.set(len(self.clients))

    def subscribe(self, client: BoardClient, view: str) -> int:
        """Register first, then return the sequence the snapshot must be read after."""
        client.views.add(view)
        self.subscribers[view].add(client)
        return self.seq[view]

    def sequence(self, view: str) -> int:
        """The view's last published sequence number."""
        return self.seq.get(view, 0)

    def unsubscribe(self, client: BoardClient, view: str) -> None:
        client.views.discard(view)
        self.subscribers[view].discard(client)

    def heartbeat(self, idle_seconds: float = HEARTBEAT_SECONDS) -> int:
        """Ping each client offered nothing for ``idle_seconds``; returns how many."""
        now = time.monotonic()
        idle = [c for c in self.clients if now - c.last_offer >= idle_seconds]
        if idle:
            ping = Encoded(PingFrame(type="ping", t=time.time()).model_dump_json())
            for client in idle:
                client.offer(ping)
        return len(idle)

    async def heartbeat_forever(self, idle_seconds: float = HEARTBEAT_SECONDS) -> None:
        while True:
            await asyncio.sleep(idle_seconds / 3)
            self.heartbeat(idle_seconds)

    def resync_all(self) -> None:
        """Tell every client to reload its views (the economy's structure changed)."""
        self.resync(None)

    def resync(self, views: list[str] | None) -> None:
        """Tell the clients of these views (None: of every view) to reload them."""
        wanted = None if views is None else set(views)
        for client in list(self.clients):
            mine = client.views if wanted is None else client.views & wanted
            if mine:
                client.offer(resync_frame(mine))

    async def publish(self, deltas: list[Delta]) -> None:
        """Queue committed events' deltas (the consumers') for their views' next frame: sent
        now, or as soon as the write budget allows."""
        self._queue(deltas)
        self._schedule(hold=0.0)

    async def publish_derived(self, deltas: list[Delta]) -> None:
        """Queue the engine's figures, worked out from events already published: they join the
        events' next frame, waiting for it a few frame intervals at most (``DERIVED_WAIT``
        seconds at most). Under load a batch then makes one frame a view, not two, and the next
        events do not wait for the budget the figures' own frame spent."""
        self._queue(deltas)
        self._schedule(hold=min(DERIVED_WAIT, DERIVED_INTERVALS * self.interval()))

    def _queue(self, deltas: list[Delta]) -> None:
        for delta in with_summaries(deltas):
            if delta.view != ENGINE_VIEW:
                changes = self._pending[delta.view]
                held = changes.pop((delta.kind, delta.key), None)
                changes[(delta.kind, delta.key)] = self._change(delta, held)

    def _schedule(self, *, hold: float) -> None:
        """The next frame: at once if the budget allows and nothing may wait, else at a timer
        (an earlier one kept, a later one brought forward)."""
        if not self._pending:
            return  # nothing for the boards
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(self._last_flush + self.interval(), now + hold)
        if self._timer is not None:
            if self._timer_at <= at:
                return  # a frame is already due no later
            self._timer.cancel()
            self._timer = None
        if at <= now:
            self.flush()
        else:
            # The due time kept here: uvloop hands back a plain Handle, without when(), for
            # a delay under half a millisecond.
            self._timer, self._timer_at = loop.call_at(at, self.flush), at

    def interval(self) -> float:
        """The least time between frames: a frame to every client within the write budget."""
        if not self.writes_per_second:
            return self.tick
        return min(self.tick, len(self.clients) / self.writes_per_second)

    def flush(self) -> None:
        """Send every view's pending deltas as one frame each."""
        if self._timer is not None:
            self._timer.cancel()  # flushed before it fired (tests flush directly)
        self._timer = None
        self._last_flush = asyncio.get_running_loop().time()
        pending, self._pending = self._pending, defaultdict(dict)
        for view, changes in pending.items():
            self.seq[view] += 1
            frame = encode(
                {
                    "type": "delta",
                    "view": view,
                    "seq": self.seq[view],
                    "t": time.time(),  # when the server sent it (clients may show the data age)
                    "changes": list(changes.values()),
                }
            )
            clients = list(self.subscribers.get(view, ()))
            for client in clients:
                client.offer(frame)
            FRAMES.inc(len(clients))

    def _change(self, delta: Delta, held: JsonObject | None) -> JsonObject:
        """A change as the view's clients get it; ``held``: the same (kind, key)'s change not
        sent yet. A site's metrics go whole the first time, then as a ``metrics_patch`` of what
        changed since the previous metrics published (what a client holds: from the frames,
        or from a snapshot of the engine's state, never older than the last published). Two
        before a frame go as one: patches merged, or a whole one still whole."""
        if delta.kind != "metrics":
            return delta.message()
        before = self._metrics.get((delta.view, delta.key))
        self._metrics[(delta.view, delta.key)] = delta.data
        if before is None or (held is not None and held["kind"] == "metrics"):
            return delta.message()
        patch = metrics_patch(before, delta.data)
        if held is not None:
            patch = merged_patches(cast("JsonObject", held["data"]), patch)
        return {"kind": "metrics_patch", "key": delta.key, "data": patch}
