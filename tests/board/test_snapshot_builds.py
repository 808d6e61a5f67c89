"""Shared snapshot builds: one read per view per round, never one older than a client needs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.board.snapshots import SnapshotBuilds
from app.carehomes.schemas import CareHomesView
from tests.support.clock import T0


class Views:
    """A stand-in for PostgreSQL's answer: each read records the view's sequence when it began
    (what it holds) and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.reads: list[str] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.fail: Exception | None = None

    async def read(self, view: str) -> CareHomesView:
        self.reads.append(view)
        holds = self.seq.get(view, 0)
        self.started.set()
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        # A real view shape; its authority field carries what the read holds.
        return CareHomesView(local_authority=f"holds {holds}", now=T0.isoformat(), homes=[])

    def sequence(self, view: str) -> int:
        return self.seq.get(view, 0)


def _frame(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


async def test_clients_asking_together_share_one_read() -> None:
    views = Views()
    builds = SnapshotBuilds(views.read, views.sequence)
    waiting = [asyncio.create_task(builds.frame("site:A", 0)) for _ in range(50)]
    await asyncio.sleep(0)
    views.release.set()
    frames = {await task for task in waiting}
    assert views.reads == ["site:A"]
    assert len(frames) == 1
    assert _frame(frames.pop())["seq"] == 0


async def test_a_client_registered_after_a_read_began_waits_for_a_newer_one() -> None:
    views = Views()
    builds = SnapshotBuilds(views.read, views.sequence)
    early = asyncio.create_task(builds.frame("site:A", 0))
    await views.started.wait()
    views.seq["site:A"] = 1  # a delta published while the first read runs
    late = [asyncio.create_task(builds.frame("site:A", 1)) for _ in range(10)]
    await asyncio.sleep(0)
    views.release.set()
    first = _frame(await early)
    assert (first["seq"], first["data"]["local_authority"]) == (0, "holds 0")
    for task in late:
        frame = _frame(await task)
        assert (frame["seq"], frame["data"]["local_authority"]) == (1, "holds 1")
    assert views.reads == ["site:A", "site:A"]  # the ten late clients shared the second


async def test_a_finished_read_is_reused_only_while_its_view_has_not_moved() -> None:
    views = Views()
    views.release.set()
    builds = SnapshotBuilds(views.read, views.sequence, fresh_seconds=60)
    await builds.frame("site:A", 0)
    await builds.frame("site:A", 0)
    await builds.frame("site:B", 0)  # another view is its own read
    assert views.reads == ["site:A", "site:B"]
    views.seq["site:A"] = 1
    assert _frame(await builds.frame("site:A", 1))["data"]["local_authority"] == "holds 1"
    assert views.reads == ["site:A", "site:B", "site:A"]
    expired = SnapshotBuilds(views.read, views.sequence, fresh_seconds=0)
    await expired.frame("site:A", 1)
    await expired.frame("site:A", 1)
    assert views.reads.count("site:A") == 4


async def test_a_failed_read_reaches_every_client_and_the_next_ask_reads_again() -> None:
    views = Views()
    views.fail = LookupError("no such view")
    builds = SnapshotBuilds(views.read, views.sequence)
    waiting = [asyncio.create_task(builds.frame("site:X", 0)) for _ in range(5)]
    await asyncio.sleep(0)
    views.release.set()
    for task in waiting:
        with pytest.raises(LookupError):
            await task
    views.fail = None
    assert _frame(await builds.frame("site:X", 0))["view"] == "site:X"
    assert views.reads == ["site:X", "site:X"]


async def test_a_client_that_leaves_does_not_cancel_the_read_others_wait_for() -> None:
    views = Views()
    builds = SnapshotBuilds(views.read, views.sequence)
    leaving = asyncio.create_task(builds.frame("site:A", 0))
    staying = asyncio.create_task(builds.frame("site:A", 0))
    await asyncio.sleep(0)
    leaving.cancel()
    views.release.set()
    assert _frame(await staying)["seq"] == 0
    assert views.reads == ["site:A"]
