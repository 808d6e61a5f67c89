"""``flowcc demo-history`` (issue #18): the demo's simulated past gives trends, SPC and the bed
forecast something to stand on from the first minute — samples of every site, of the whole
system (from its sites') and of each local authority, and past ED attendances — through the real
API, scoped by role. Development only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.config import Settings
from app.main import create_app
from app.simulation.history import write_history

pytestmark = pytest.mark.usefixtures("clean_db")
WEEKS = 2
SITES = ("RAN01", "RWV01", "RNF01")


async def _headers(client: AsyncClient, user: str) -> dict[str, str]:
    login = await client.post("/api/v1/auth/dev-login", json={"username": user})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The service started after the history was written (as make run does)."""
    now = datetime.now(UTC)
    samples, spells = await write_history(settings, weeks=WEEKS, seed=3, now=now)
    assert samples > 0
    assert spells > 0
    app: FastAPI = create_app(settings.model_copy(update={"clock": "offset"}))
    async with app.router.lifespan_context(app):
        await app.state.flow.ready.wait()
        app.state.history_until = now
        yield app


async def test_the_simulated_past_feeds_every_board(app: FastAPI) -> None:
    now = app.state.history_until
    system = app.state.flow.system_scope
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        commander = await _headers(client, "commander")

        async def series(scope: str, metric: str, headers: dict[str, str]) -> list[float]:
            since = (now - timedelta(hours=24)).isoformat()
            answer = await client.get(
                "/api/v1/metric-samples",
                params={"scope": scope, "metric": metric, "since": since},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
            return [p["value"] for p in answer.json()["points"]]

        # The last 24 hours, hourly, for a sparkline; the system's occupancy is of its beds.
        occupied = {site: await series(site, "beds.occupied", commander) for site in SITES}
        beds = {site: await series(site, "beds.open", commander) for site in SITES}
        whole = await series(system, "beds.occupancy_pct", commander)
        assert len(whole) >= 24
        # The service's first sample is five minutes after the last (none of its empty start).
        assert len(whole) == len(occupied["RAN01"]) == len(beds["RAN01"])
        latest = await client.get(
            "/api/v1/metric-samples",
            params={"scope": "RAN01", "metric": "beds.occupancy_pct", "since": now.isoformat()},
            headers=commander,
        )
        assert [p["at"] for p in latest.json()["points"]] == [now.isoformat()]
        for hour, pct in enumerate(whole):
            summed = sum(occupied[s][hour] for s in SITES) / sum(beds[s][hour] for s in SITES)
            assert pct == pytest.approx(100 * summed, abs=0.01)
        assert 85 <= sum(whole) / len(whole) <= 100  # domain.md §2: G&A runs in the 90s
        waiting = await series("E06000901", "discharges.nctr", commander)
        assert len(waiting) >= 24
        assert min(waiting) > 0

        # Each day of the past is a point of the site's SPC chart.
        chart = await client.get(
            "/api/v1/spc",
            params={"scope": "RAN01", "metric": "beds.occupancy_pct", "days": 7 * WEEKS},
            headers=commander,
        )
        assert chart.status_code == 200, chart.text
        assert len(chart.json()["points"]) >= 7 * WEEKS - 1

        # A local authority's samples are its hub's, and no other authority's.
        hub = await _headers(client, "sc.anyborough")
        assert await series("E06000901", "discharges.nctr", hub) == waiting
        other = await client.get(
            "/api/v1/metric-samples",
            params={"scope": "E10000902", "metric": "discharges.nctr"},
            headers=hub,
        )
        assert other.status_code == 404
        manager = await _headers(client, "sm.anyborough")
        hidden = await client.get(
            "/api/v1/metric-samples",
            params={"scope": "E06000901", "metric": "discharges.nctr"},
            headers=manager,
        )
        assert hidden.status_code == 404

        # The forecast is fitted on the past ED attendances.
        forecast = await client.get("/api/v1/sites/RAN01/forecast", headers=commander)
        assert forecast.status_code == 200, forecast.text
        assert forecast.json()["history_attendances"] > 7 * WEEKS * 200  # ~325 a day at RAN01


def test_it_refuses_outside_development() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWCC_")} | {
        "FLOWCC_JWT_SECRET": "j" * 40, "FLOWCC_PSEUDONYM_KEY": "p" * 40,
        "KAFKA_ALLOW_PLAINTEXT": "true",
    }  # fmt: skip  # production settings that start; only the environment is left default
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo-history", "--weeks", "1"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "development only" in done.stderr
