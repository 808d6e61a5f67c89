"""The hub merges a view's deltas into at most one frame per tick; a quiet view sends at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.board.hub import BoardClient, BoardHub
from app.changes import Delta, touch


def _frames(client: BoardClient) -> list[dict[str, Any]]:
    frames = []
    while not client.queue.empty():
        frames.append(json.loads(client.queue.get_nowait()))
    return frames


def _bed(n: int) -> Delta:
    return Delta("site:A", "bed", f"A:W:B{n}", {"occupied": True})


async def test_a_quiet_view_sends_at_once_and_a_burst_waits_for_the_tick_as_one_frame() -> None:
    hub = BoardHub(tick_seconds=0.2)
    client = BoardClient()
    hub.connect(client)
    hub.subscribe(client, "site:A")
    await hub.publish([_bed(1)])
    (first,) = _frames(client)  # nothing sent for a while: no wait
    assert (first["seq"], [c["key"] for c in first["changes"]]) == (1, ["A:W:B1"])

    for n in range(2, 6):  # within the tick: held back, then merged
        await hub.publish([_bed(n), touch("A")])
    assert _frames(client) == []
    await asyncio.sleep(0.6)
    (merged,) = _frames(client)
    assert merged["seq"] == 2
    assert [c["key"] for c in merged["changes"]] == ["A:W:B2", "A:W:B3", "A:W:B4", "A:W:B5"]


async def test_without_a_tick_every_publish_is_its_own_frame_per_view() -> None:
    hub = BoardHub(tick_seconds=0)
    client = BoardClient()
    hub.connect(client)
    hub.subscribe(client, "site:A")
    hub.subscribe(client, "system")
    await hub.publish([_bed(1), Delta("system", "unit", "A:W", {}), _bed(2)])
    await hub.publish([_bed(3)])
    frames = _frames(client)
    assert [(f["view"], f["seq"], len(f["changes"])) for f in frames] == [
        ("site:A", 1, 2),
        ("system", 1, 1),
        ("site:A", 2, 1),
    ]


async def test_engine_touches_alone_send_nothing() -> None:
    hub = BoardHub(tick_seconds=0.05)
    client = BoardClient()
    hub.connect(client)
    hub.subscribe(client, "site:A")
    await hub.publish([touch("A")])
    await asyncio.sleep(0.2)
    assert _frames(client) == []


async def test_a_change_superseded_within_the_tick_is_sent_once_with_its_latest_value() -> None:
    """Changes carry absolute values: within one frame only the latest of each (kind, key)
    goes, in the order the keys last changed (a site's 2.4 kB metrics twice a frame was
    half the frame)."""
    hub = BoardHub(tick_seconds=0.2)
    client = BoardClient()
    hub.connect(client)
    hub.subscribe(client, "site:A")
    await hub.publish([_bed(0)])
    _frames(client)
    await hub.publish([Delta("site:A", "bed", "A:W:B1", {"occupied": True}), _bed(2)])
    await hub.publish([Delta("site:A", "bed", "A:W:B1", {"occupied": False})])
    await asyncio.sleep(0.4)
    (merged,) = _frames(client)
    assert [(c["key"], c["data"]) for c in merged["changes"]] == [
        ("A:W:B2", {"occupied": True}),
        ("A:W:B1", {"occupied": False}),
    ]


async def test_the_interval_between_frames_is_shaped_by_the_clients_to_write_to() -> None:
    """Frames go as soon as one to every client fits in the write budget, the tick at most:
    10 clients at 1,000 writes a second wait 10 ms, not the 0.5 s tick; 1,000 wait the tick."""
    hub = BoardHub(tick_seconds=0.5, writes_per_second=1000)
    watcher = BoardClient()
    hub.connect(watcher)
    hub.subscribe(watcher, "site:A")
    for _ in range(9):
        hub.connect(BoardClient())
    assert hub.interval() == 0.01
    await hub.publish([_bed(1)])
    await hub.publish([_bed(2)])  # within the interval: waits for it
    assert len(_frames(watcher)) == 1
    await asyncio.sleep(0.1)
    assert len(_frames(watcher)) == 1  # long before the tick
    for _ in range(990):
        hub.connect(BoardClient())
    assert hub.interval() == 0.5
    await asyncio.sleep(0.5)  # quiet for a tick: the next frame goes at once
    await hub.publish([_bed(3)])
    await hub.publish([_bed(4)])
    assert len(_frames(watcher)) == 1
    await asyncio.sleep(0.2)
    assert _frames(watcher) == []  # the tick has not passed
    await asyncio.sleep(0.5)
    assert len(_frames(watcher)) == 1
