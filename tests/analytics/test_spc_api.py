"""GET /api/v1/spc over real metric samples in PostgreSQL: daily series at a fixed time (or the
daily mean), local days ending yesterday by the service's clock, role-scoped."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.clock import LONDON, local_midnight
from app.escalation.models import MetricSample

pytestmark = pytest.mark.usefixtures("clean_db")
METRIC = "beds.occupancy_pct"


async def _headers(client: AsyncClient, user: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/dev-login", json={"username": user})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _samples(engine: AsyncEngine, today: datetime, by_day: list[float]) -> None:
    """For each of the last len(by_day) local days: 07:55 → the value, 08:05 and 20:00 → 0."""
    async with async_sessionmaker(engine)() as session, session.begin():
        for back, value in enumerate(reversed(by_day), start=1):
            midnight = local_midnight(local_midnight(today) - timedelta(days=back, hours=-12))
            day = midnight.astimezone(LONDON).date()
            for at, v in ((time(7, 55), value), (time(8, 5), 0.0), (time(20), 0.0)):
                when = datetime.combine(day, at, tzinfo=LONDON)
                session.add(MetricSample(scope="RAN01", metric=METRIC, value=v, at=when))


async def test_an_xmr_chart_of_the_value_at_eight_each_day(
    app: FastAPI, clean_db: AsyncEngine
) -> None:
    now = app.state.flow.clock.now()
    steady = [90.0, 91, 90, 92, 91, 90, 91, 92, 90, 91, 90, 91, 92, 90, 91]
    await _samples(clean_db, now, [*steady, 99.0])  # yesterday: far above the limits
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        manager = await _headers(client, "sm.anyborough")
        query: dict[str, str | int] = {
            "scope": "RAN01", "metric": METRIC, "days": 30, "fix_after": 15, "target": 95
        }  # fmt: skip
        chart = (await client.get("/api/v1/spc", params=query, headers=manager)).json()
        assert chart["series"] == "08:00 each day"
        assert [p["value"] for p in chart["points"]] == [*steady, 99.0]  # 07:55, not 08:05
        assert (
            chart["points"][-1]["day"]
            == (now - timedelta(days=1)).astimezone(LONDON).date().isoformat()
        )
        assert chart["direction"] == "decrease"  # occupancy: lower is better
        assert chart["points"][-1]["type"] == "special_cause_concern"
        assert chart["variation"] == "concern_high"
        assert chart["assurance"] == "consistent_pass"  # limits of the baseline below 95

        mean = {**query, "series": "mean"}
        daily = (await client.get("/api/v1/spc", params=mean, headers=manager)).json()
        assert daily["points"][0]["value"] == pytest.approx(steady[0] / 3)

        elsewhere = {**query, "scope": "RWV01"}
        assert (
            await client.get("/api/v1/spc", params=elsewhere, headers=manager)
        ).status_code == 404
        unknown = {**query, "metric": "beds.happiness"}
        refused = await client.get("/api/v1/spc", params=unknown, headers=manager)
        assert refused.status_code == 422
        assert "beds.happiness" in refused.json()["error"]["message"]
        assert (await client.get("/api/v1/spc", params=query)).status_code == 401
