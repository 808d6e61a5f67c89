"""Fan-out across API processes (ADR 0005): two real uvicorn processes on one PostgreSQL and one
Kafka; an admission consumed by one reaches the board clients of both."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect

from app.board.fanout import PAYLOAD_LIMIT, Fanout, pack, unpack
from app.changes import Delta
from app.config import Settings
from tests.support.board import admit, login, next_of
from tests.support.services import isolated_kafka, live_consumer, live_server

BED = "RAN01:AMU:B03"


def test_payloads_stay_under_the_notify_limit_and_keep_order() -> None:
    deltas = [Delta("site:RAN01", "bed", f"RAN01:AMU:B{n:02d}", {"n": n}) for n in range(300)]
    huge = Delta("carehomes", "vacancies", "all", {"blob": "x" * PAYLOAD_LIMIT})
    payloads = pack("me", [*deltas, huge])
    assert len(payloads) > 1
    assert all(len(p.encode()) < PAYLOAD_LIMIT for p in payloads)
    unpacked = [unpack(p) for p in payloads]
    assert {origin for origin, _, _ in unpacked} == {"me"}
    assert [d for _, batch, _ in unpacked for d in batch] == deltas
    assert [view for _, _, resync in unpacked for view in resync] == ["carehomes"]  # too big


async def test_sends_arrive_in_order_and_a_process_never_takes_its_own_back(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    """A consumer hands its deltas over without waiting for the NOTIFY; what it handed over
    reaches the other process in order (gathered into fewer statements), all of it even when
    the sender closes at once; and a process ignores its own payloads."""
    got: dict[str, list[Delta]] = {"a": [], "b": []}

    def into(name: str) -> Any:
        async def deliver(deltas: list[Delta]) -> None:
            got[name] += deltas

        return deliver

    a = Fanout(settings.db.url, into("a"), lambda views: None)
    b = Fanout(settings.db.url, into("b"), lambda views: None)
    await a.start()
    await b.start()
    sent = [Delta("site:T1", "bed", f"T1:W1:B{n:02d}", {"n": n}) for n in range(60)]
    for delta in sent:
        await a.send([delta])
    await a.close()  # sends what is queued first
    async with asyncio.timeout(20):
        while len(got["b"]) < len(sent):
            await asyncio.sleep(0.05)
    await b.close()
    assert got["b"] == sent
    assert got["a"] == []


async def test_a_delivery_that_fails_does_not_stop_the_ones_after_it(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    """One delivery raising (a bug a delta meets) is logged; the process keeps taking the other
    processes' deltas — its inbox task used to end with it, and its boards heard nothing more
    from the consumers' process (issue #17's own-process latency run)."""
    got: list[Delta] = []

    async def deliver(deltas: list[Delta]) -> None:
        if any(d.key == "BAD" for d in deltas):
            raise RuntimeError("a bug this delta meets")
        got.extend(deltas)

    a = Fanout(settings.db.url, deliver, lambda views: None)
    b = Fanout(settings.db.url, deliver, lambda views: None)
    await a.start()
    await b.start()
    good = Delta("site:T1", "bed", "T1:W1:B01", {"n": 1})
    await a.send([Delta("site:T1", "bed", "BAD", {})])
    await a.send([good])
    await a.close()
    async with asyncio.timeout(20):
        while not got:
            await asyncio.sleep(0.05)
    await b.close()
    assert got == [good]


async def _board(base: str, view: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(f"ws://{base}/ws")
    await ws.send(json.dumps({"type": "auth", "token": await login(base, "commander")}))
    await next_of(ws, "ready")
    await ws.send(json.dumps({"type": "subscribe", "view": view}))
    return ws, await next_of(ws, "snapshot")


async def _until_bed_and_metrics(ws: ClientConnection, occupied: int) -> None:
    """Deltas until the bed shows occupied and the site's metrics count it."""
    seen_bed = seen_metrics = False
    while not (seen_bed and seen_metrics):
        delta = await next_of(ws, "delta", within=30)
        for change in delta["changes"]:
            if change["kind"] == "bed" and change["key"] == BED:
                seen_bed = change["data"]["occupied"] is True
            data = change["data"]  # a site's metrics whole, or what changed in them
            if change["kind"] in ("metrics", "metrics_patch") and "beds" in data:
                seen_metrics = seen_metrics or data["beds"].get("occupied") == occupied


async def _leader(base: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://{base}/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("flowcc_engine_leader "))
    return float(line.split()[1])


async def test_a_delta_consumed_by_one_process_reaches_the_clients_of_both(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    consuming = isolated_kafka(settings)
    # The second process consumes nothing: whatever its clients see came through the fan-out.
    serving_only = consuming.model_copy(update={"run_consumers": False})
    async with live_server(consuming) as first, live_server(serving_only) as second:
        assert (await _leader(first), await _leader(second)) == (1.0, 0.0)
        ws_first, snap_first = await _board(first, "site:RAN01")
        ws_second, snap_second = await _board(second, "site:RAN01")
        assert snap_second["data"]["beds"][BED]["occupied"] is False
        occupied = snap_second["data"]["metrics"]["beds"]["occupied"]
        assert snap_first["data"]["metrics"]["beds"]["occupied"] == occupied

        admit(consuming, "B03", "V77")

        await _until_bed_and_metrics(ws_first, occupied + 1)
        await _until_bed_and_metrics(ws_second, occupied + 1)  # its own engine, via NOTIFY
        await ws_first.close()
        await ws_second.close()


async def test_a_consumer_only_process_feeds_the_board_processes(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    """``flowcc consume`` (no API) beside a board process that consumes nothing: the board's
    clients receive the bed and its engine's metrics for what the consumer process committed;
    the consumer process never takes the engine's lead."""
    board_only = isolated_kafka(settings).model_copy(update={"run_consumers": False})
    async with live_server(board_only) as base, live_consumer(board_only):
        ws, snapshot = await _board(base, "site:RAN01")
        occupied = snapshot["data"]["metrics"]["beds"]["occupied"]
        admit(board_only, "B03", "V78")
        await _until_bed_and_metrics(ws, occupied + 1)
        assert await _leader(base) == 1.0
        await ws.close()
