"""A site's metrics go to its board whole once, then as what changed (``metrics_patch``,
docs/board-protocol.md): each frame is one of the protocol's, and every client — on the view
from the start, or subscribed later with a snapshot of the engine's state — holds exactly the
engine's latest metrics once the frames are out."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from app.board.hub import BoardClient, BoardHub
from app.board.present import PATCHED_GROUPS
from app.board.protocol import FRAMES
from app.changes import Delta
from app.escalation.schemas import OpelView
from app.flow.facts import QueuedJourney, SiteFacts
from app.flow.metrics import compute_site
from app.flow.schemas import SiteFlow

Metrics = dict[str, Any]  # a site's SiteFlow as JSON
NOW = datetime.now(UTC).replace(microsecond=0)


def _flow(rng: random.Random, at: datetime) -> Metrics:
    """A site's metrics as the engine computes them, from random facts."""
    open_beds = rng.randint(20, 60)
    occupied = rng.randint(0, open_beds)
    facts = SiteFacts(
        unit_counts={"core_beds": open_beds, "open_beds": open_beds, "occupied": occupied,
                     "free": open_beds - occupied},
        ed_spaces=30,
        ed_waiting=[(at - timedelta(minutes=rng.randint(1, 900)), None)
                    for _ in range(rng.randint(0, 12))],
        ed_areas={"majors": rng.randint(0, 5)},
        ed_area_spaces={"majors": 10},
        ed_stale=0,
        ed_arrivals=[at - timedelta(minutes=rng.randint(1, 59)) for _ in range(rng.randint(0, 4))],
        ed_departures=[],
        queue=[QueuedJourney(f"INC{n}", f"RYA{n}", 2, at - timedelta(minutes=rng.randint(1, 80)))
               for n in range(rng.randint(0, 3))],
        en_route=rng.randint(0, 3),
        handovers=[],
        nctr=[("1", None, "E06000901", at - timedelta(days=1))] * rng.randint(0, 3),
        discharged_today=[],
        expected_today=rng.randint(0, 9),
    )  # fmt: skip
    computed = compute_site(facts, now=at, midnight=at - timedelta(hours=8), hours_lost_after=15)
    opel = None
    if rng.random() < 0.7:
        level = rng.randint(1, 4)
        opel = OpelView(scope="A", computed_level=level, raw_level=level, score=level * 10.0,
                        below_since=None, computed_at=at.isoformat(), readings=[], drivers=[],
                        declared=None)  # fmt: skip
    flow = SiteFlow(**dict(computed.metrics), as_of=at.isoformat(), opel=opel)
    return flow.model_dump(mode="json")


def _changed_a_little(rng: random.Random, before: Metrics, at: datetime) -> Metrics:
    """Most of the time one group moves (as one event moves a site); sometimes all do."""
    fresh = _flow(rng, at)
    if rng.random() < 0.2:
        return fresh
    after = copy.deepcopy(before) | {"as_of": fresh["as_of"]}
    moved = rng.choice(sorted(PATCHED_GROUPS | {"opel"}))
    after[moved] = fresh[moved]
    return after


def _applied(held: Metrics | None, change: dict[str, Any]) -> Metrics:
    """The documented rule (frontend/src/model.ts applies the same)."""
    if change["kind"] == "metrics":
        return copy.deepcopy(change["data"])
    assert change["kind"] == "metrics_patch"
    assert held is not None, "a patch of metrics the client never had"
    out = dict(held)
    for key, value in change["data"].items():
        out[key] = {**held[key], **value} if key in PATCHED_GROUPS else value
    return out


class _Board:
    """A client of the view, holding what its frames (after its snapshot) make of the metrics."""

    def __init__(self, hub: BoardHub, snapshot: Metrics | None) -> None:
        self.client = BoardClient(queue_size=100_000)
        hub.connect(self.client)
        self.seq = hub.subscribe(self.client, "site:A")
        self.metrics = copy.deepcopy(snapshot)
        self.patch_bytes = self.whole_bytes = 0

    def take(self) -> None:
        while not self.client.queue.empty():
            text = self.client.queue.get_nowait()
            frame = json.loads(text)
            typed = FRAMES.dump_python(FRAMES.validate_json(text), mode="json", exclude_unset=True)
            assert typed == frame, f"a frame not of the protocol's shapes: {text[:300]}"
            if frame["seq"] <= self.seq:
                continue  # the snapshot holds it
            assert frame["seq"] == self.seq + 1
            self.seq = frame["seq"]
            for change in frame["changes"]:
                self.metrics = _applied(self.metrics, change)
                size = len(json.dumps(change["data"]))
                if change["kind"] == "metrics_patch":
                    self.patch_bytes += size
                else:
                    self.whole_bytes += size


async def test_the_metrics_go_whole_first_then_only_the_fields_that_changed() -> None:
    rng = random.Random(7)
    hub = BoardHub(tick_seconds=0)
    board = _Board(hub, None)
    first = _flow(rng, NOW)
    await hub.publish([Delta("site:A", "metrics", "A", first)])
    second = copy.deepcopy(first) | {"as_of": (NOW + timedelta(seconds=5)).isoformat()}
    second["beds"] |= {"occupied": first["beds"]["occupied"] + 1, "free": 99}
    await hub.publish([Delta("site:A", "metrics", "A", second)])
    (whole,) = json.loads(board.client.queue.get_nowait())["changes"]
    (patch,) = json.loads(board.client.queue.get_nowait())["changes"]
    assert (whole["kind"], whole["data"]) == ("metrics", first)
    assert patch == {
        "kind": "metrics_patch",
        "key": "A",
        "data": {
            "as_of": second["as_of"],
            "beds": {"occupied": second["beds"]["occupied"], "free": 99},
        },
    }


async def test_every_board_holds_the_engine_s_latest_metrics_whenever_it_joined() -> None:
    """400 steps: the engine publishes (several between frames, coalesced), frames go out, and
    boards join with a snapshot of the engine's state — sometimes newer than anything
    published yet. After every frame all boards hold the latest metrics."""
    for seed in range(5):
        rng = random.Random(seed)
        hub = BoardHub(tick_seconds=3600)  # the test flushes: what is published between waits
        at, latest, unsent = NOW, None, False
        boards: list[_Board] = []
        for _ in range(400):
            at += timedelta(seconds=rng.randint(1, 90))
            step = rng.random()
            if step < 0.5 or latest is None:
                unsent = latest is not None  # the first goes at once (nothing sent for a tick)
                latest = _changed_a_little(rng, latest, at) if latest else _flow(rng, at)
                await hub.publish([Delta("site:A", "metrics", "A", latest)])
            elif step < 0.75:
                hub.flush()
                unsent = False
            elif step < 0.9:
                boards.append(_Board(hub, latest))
            else:  # the engine has moved on; the snapshot holds it before it is published
                latest = _changed_a_little(rng, latest, at)
                boards.append(_Board(hub, latest))
                await hub.publish([Delta("site:A", "metrics", "A", latest)])
                unsent = True
            for board in boards:
                board.take()
            if not unsent:
                assert all(board.metrics == latest for board in boards), f"seed {seed}"
        hub.flush()
        for board in boards:
            board.take()
            assert board.metrics == latest
        patches = sum(b.patch_bytes for b in boards)
        wholes = sum(b.whole_bytes for b in boards)
        assert patches
        assert not wholes  # every board joined after the first whole frame
