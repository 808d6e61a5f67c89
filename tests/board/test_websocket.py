"""The websocket board against a real uvicorn: auth first, snapshot, then deltas in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from app.config import Settings
from tests.support.board import admit, login, next_of
from tests.support.services import isolated_kafka, live_server

pytestmark = pytest.mark.usefixtures("clean_db")


async def test_snapshot_then_a_delta_when_an_admission_arrives_on_kafka(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    app_settings = isolated_kafka(settings)
    async with live_server(app_settings) as base:
        token = await login(base, "sm.anyborough")
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            ready = await next_of(ws, "ready")
            assert ready["landing_view"] == "site:RAN01"
            await ws.send(json.dumps({"type": "subscribe", "view": "site:RAN01"}))
            snapshot = await next_of(ws, "snapshot")
            assert snapshot["data"]["beds"]["RAN01:AMU:B03"]["occupied"] is False

            admit(app_settings, "B03", "V9")

            delta = await next_of(ws, "delta")
            assert delta["seq"] > snapshot["seq"]
            beds = {c["key"]: c["data"] for c in delta["changes"] if c["kind"] == "bed"}
            assert beds["RAN01:AMU:B03"]["occupied"] is True
        # As under `flowcc serve`, the frames went to the socket pre-framed (app/board/wire.py),
        # not through the ASGI send path.
        assert await _gauge(base, "flowcc_board_preframed_connections_total") == 1


async def test_every_frame_of_every_view_is_the_published_protocol(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    """Snapshots of all four kinds of view, and deltas of every kind an admission causes (a bed,
    a unit's counts, what changed in the site's metrics — sent whole at the engine's start —,
    its system summary), validate against the schema the frontend's types are generated from;
    and the ready frame carries the role's permissions."""
    app_settings = isolated_kafka(settings)
    views = ["system", "site:RAN01", "discharges:E06000901", "carehomes:E06000901"]
    async with live_server(app_settings) as base, connect(f"ws://{base}/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": await login(base, "commander")}))
        ready = await next_of(ws, "ready")
        assert ready["permissions"]["boards"] == ["system"]
        assert ready["permissions"]["declare_opel"] is True
        for view in views:
            await ws.send(json.dumps({"type": "subscribe", "view": view}))
            assert (await next_of(ws, "snapshot"))["view"] == view
        kinds: set[str] = set()
        admit(app_settings, "B03", "V9")
        async with asyncio.timeout(30):
            while not {"bed", "unit", "metrics_patch", "site_summary"} <= kinds:
                kinds |= {change["kind"] for change in (await next_of(ws, "delta"))["changes"]}


async def test_the_socket_refuses_a_forged_token_and_foreign_views(
    settings: Settings,
) -> None:
    async with live_server(settings) as base:
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": "not-a-jwt"}))
            error = await next_of(ws, "error")
            assert error["code"] == "unauthorized"
        token = await login(base, "sm.westvale")
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await next_of(ws, "ready")
            await ws.send(json.dumps({"type": "subscribe", "view": "site:RAN01"}))
            error = await next_of(ws, "error")
            assert error["code"] == "forbidden"


async def _subscribed(
    base: str, view: str, *, stalls: bool = False
) -> tuple[ClientConnection, dict[str, Any]]:
    sock = None
    if stalls:  # a small receive window, as a slow mobile link would have
        host, port = base.split(":")
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws = await connect(f"ws://{base}/ws", max_queue=4, sock=sock, ping_interval=None)
    await ws.send(json.dumps({"type": "auth", "token": await login(base, "commander")}))
    await next_of(ws, "ready")
    await ws.send(json.dumps({"type": "subscribe", "view": view}))
    return ws, await next_of(ws, "snapshot")


def _bed_changes(delta: dict[str, Any]) -> dict[str, Any]:
    return {c["key"]: c["data"] for c in delta["changes"] if c["kind"] == "bed"}


async def _delta_with_bed(ws: ClientConnection, bed: str) -> dict[str, Any]:
    while True:
        delta = await next_of(ws, "delta")
        if bed in _bed_changes(delta):
            return delta


async def test_a_client_that_sees_a_gap_resyncs_to_a_snapshot_with_everything(
    settings: Settings,
) -> None:
    app_settings = isolated_kafka(settings)
    async with live_server(app_settings) as base:
        ws, snapshot = await _subscribed(base, "site:RAN01")
        admit(app_settings, "B05", "V51")
        missed = await _delta_with_bed(ws, "RAN01:AMU:B05")  # dropped: a forced gap
        admit(app_settings, "B06", "V52")
        after_gap = await _delta_with_bed(ws, "RAN01:AMU:B06")
        assert after_gap["seq"] > missed["seq"] > snapshot["seq"]  # seq shows the gap ...
        await ws.send(json.dumps({"type": "resync", "view": "site:RAN01"}))
        resynced = await next_of(ws, "snapshot")  # ... so the client reloads the view
        assert resynced["seq"] >= after_gap["seq"]
        beds = resynced["data"]["beds"]
        assert beds["RAN01:AMU:B05"]["occupied"]
        assert beds["RAN01:AMU:B06"]["occupied"]
        await ws.close()


async def _gauge(base: str, name: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://{base}/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith(f"{name} "))
    return float(line.split()[1])


async def _resyncs(base: str) -> float:
    return await _gauge(base, "flowcc_board_resyncs_total")


async def test_a_client_that_stops_reading_is_resynced_and_does_not_delay_another(
    settings: Settings,
) -> None:
    """The stalled client asks for snapshot after snapshot and reads none: its bounded queue
    overflows into one resync and, its frames waiting too long, it is dropped — while a reading
    client on the same process still receives each admission's delta."""
    app_settings = isolated_kafka(settings).model_copy(
        update={"board_queue_frames": 32, "board_send_timeout_seconds": 5}
    )
    async with live_server(app_settings) as base:
        stalled, _ = await _subscribed(base, "site:RAN01", stalls=True)
        reader, _ = await _subscribed(base, "site:RAN01")
        before = await _resyncs(base)
        for _ in range(60):  # at most 1,200 snapshot requests (each ~100 kB)
            for _ in range(20):
                await stalled.send(json.dumps({"type": "resync", "view": "site:RAN01"}))
            await asyncio.sleep(0.5)
            if await _resyncs(base) > before:
                break
        assert await _resyncs(base) > before, "the stalled client's queue never overflowed"

        admit(app_settings, "B07", "V53")
        delta = await _delta_with_bed(reader, "RAN01:AMU:B07")
        assert _bed_changes(delta)["RAN01:AMU:B07"]["occupied"] is True

        # Resynced (above), then dropped when a frame has waited too long for it: the server
        # lets go of it and holds only the reading client.
        async with asyncio.timeout(60):
            while await _gauge(base, "flowcc_board_clients") != 1:
                await asyncio.sleep(0.5)
        assert await _gauge(base, "flowcc_board_dropped_total") == 1
        admit(app_settings, "B08", "V54")
        await _delta_with_bed(reader, "RAN01:AMU:B08")  # the reader is still served
        stalled.transport.abort()
        await reader.close()


async def test_a_hundred_screens_reconnecting_at_once_all_get_one_shared_snapshot(
    settings: Settings,
) -> None:
    """Every wall screen reconnects at once after a deploy: each gets its snapshot, and the
    view is read from the database a few times, not once per screen."""
    async with live_server(settings) as base:
        token = await login(base, "sm.anyborough")

        async def screen() -> dict[str, Any]:
            async with connect(f"ws://{base}/ws", open_timeout=60) as ws:
                await ws.send(json.dumps({"type": "auth", "token": token}))
                await ws.send(json.dumps({"type": "subscribe", "view": "site:RAN01"}))
                return await next_of(ws, "snapshot", within=60)

        snapshots = await asyncio.gather(*(screen() for _ in range(100)))
        assert all(len(s["data"]["beds"]) == len(snapshots[0]["data"]["beds"]) for s in snapshots)
        assert len(snapshots[0]["data"]["beds"]) > 100
        builds = await _gauge(base, "flowcc_board_snapshot_builds_total")
        assert 1 <= builds <= 10, builds
        assert len({s["seq"] for s in snapshots}) <= builds  # one label per read


# Per view, in the order of ROLES: "ok" (snapshot) or "forbidden". (The carehomes and
# discharges views of an authority are its social-care team's, and everyone's who sees all.)
WS_ROLES = ("sm.anyborough", "sm.westvale", "sc.anyborough", "commander", "bi.reader",
            "pas.ingest", "admin")  # fmt: skip
WS_MATRIX: dict[str, tuple[str, ...]] = {
    "site:RAN01": ("ok", "forbidden", "forbidden", "ok", "ok", "forbidden", "ok"),
    "site:RWV01": ("forbidden", "ok", "forbidden", "ok", "ok", "forbidden", "ok"),
    "system": ("forbidden", "forbidden", "forbidden", "ok", "ok", "forbidden", "ok"),
    "discharges:E06000901": ("forbidden", "forbidden", "ok", "ok", "ok", "forbidden", "ok"),
    "discharges:E10000902": ("forbidden", "forbidden", "forbidden", "ok", "ok", "forbidden", "ok"),
    "carehomes:E06000901": ("forbidden", "forbidden", "ok", "ok", "ok", "forbidden", "ok"),
}


async def test_every_role_may_subscribe_to_exactly_its_views(settings: Settings) -> None:
    async with live_server(settings) as base:
        for role_index, user in enumerate(WS_ROLES):
            async with connect(f"ws://{base}/ws") as ws:
                await ws.send(json.dumps({"type": "auth", "token": await login(base, user)}))
                await next_of(ws, "ready")
                for view, expected in WS_MATRIX.items():
                    await ws.send(json.dumps({"type": "subscribe", "view": view}))
                    frame = await _answer(ws, view)
                    got = "ok" if frame["type"] == "snapshot" else frame["code"]
                    assert got == expected[role_index], (user, view, frame)
                    if got == "ok" and view.startswith("carehomes:"):
                        assert frame["data"]["local_authority"] == "E06000901"


async def _answer(ws: ClientConnection, view: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("view") == view and frame["type"] in ("snapshot", "error"):
                return frame  # type: ignore[no-any-return]


async def _closed_with(ws: ClientConnection, within: float = 20) -> tuple[str, int | None]:
    """The unauthorized frame's message and the close code, once the server ends the session."""
    error = await next_of(ws, "error", within)
    async with asyncio.timeout(within):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    return error["message"], ws.close_code


async def test_a_session_ends_when_its_token_expires(settings: Settings) -> None:
    auth = settings.auth.model_copy(update={"token_ttl_seconds": 2})
    async with live_server(settings.model_copy(update={"auth": auth})) as base:
        token = await login(base, "commander")
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await next_of(ws, "ready")
            message, code = await _closed_with(ws)
    assert (message, code) == ("session expired: sign in again", 4401)


async def test_a_session_ends_when_its_api_key_is_revoked(settings: Settings) -> None:
    quick = settings.model_copy(update={"board_revalidate_seconds": 0.2})
    async with live_server(quick) as base, httpx.AsyncClient(base_url=f"http://{base}") as http:
        admin = {"Authorization": f"Bearer {await login(base, 'admin')}"}
        body = {"name": "wall", "role": "integration_read"}
        created = (await http.post("/api/v1/api-keys", json=body, headers=admin)).json()
        async with connect(f"ws://{base}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": created["key"]}))
            await next_of(ws, "ready")
            await http.delete(f"/api/v1/api-keys/{created['id']}", headers=admin)
            message, code = await _closed_with(ws)
    assert (message, code) == ("unknown or revoked API key", 4401)


async def test_a_page_on_another_origin_cannot_open_the_socket(settings: Settings) -> None:
    allowed = settings.model_copy(update={"board_origins": ["https://wall.example.nhs.uk"]})
    async with live_server(allowed) as base:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{base}/ws", origin=Origin("https://evil.example")):
                pass
        assert refused.value.response.status_code == 403
        for origin in (f"http://{base}", "https://wall.example.nhs.uk"):
            async with connect(f"ws://{base}/ws", origin=Origin(origin)) as ws:
                await ws.send(json.dumps({"type": "auth", "token": await login(base, "admin")}))
                await next_of(ws, "ready")
