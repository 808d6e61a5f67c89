"""GET /api/v1/sites/{code}/forecast over real encounters in PostgreSQL: the site's own history
of ED attendances, who is in ED now, and inpatients' expected discharges."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.clock import LONDON
from app.discharge.models import DischargePlan
from app.occupancy.models import Encounter

pytestmark = pytest.mark.usefixtures("clean_db")


async def _encounters(engine: AsyncEngine, now: datetime, prefix: str = "TEST") -> None:
    """Two weeks of one ED arrival an hour at RAN01, every other one admitted to a bed as it
    leaves after 3 hours (the rest home after 2); three in ED now, one with a decision to admit;
    one inpatient expected home within the hour."""
    rows = []
    for hour in range(1, 14 * 24):
        arrived = now - timedelta(hours=hour + 3)
        admitted = hour % 2 == 1
        left = arrived + timedelta(hours=3 if admitted else 2)
        rows.append(Encounter(
            id=f"{prefix}:P{hour}", site_code="RAN01", status="discharged", ed_arrived_at=arrived,
            ed_departed_at=left, admitted_at=left if admitted else None,
            discharged_at=left if not admitted else left + timedelta(days=2),
        ))  # fmt: skip
    for n, waited in enumerate((0.5, 1.0, 2.5)):
        arrived = now - timedelta(hours=waited)
        decided = arrived + timedelta(minutes=20) if waited == 2.5 else None
        rows.append(Encounter(id=f"{prefix}:N{n}", site_code="RAN01", status="ed",
                              ed_arrived_at=arrived, decision_to_admit_at=decided))  # fmt: skip
    rows.append(Encounter(id=f"{prefix}:IP", site_code="RAN01", status="admitted",
                          expected_discharge_at=now + timedelta(minutes=40)))  # fmt: skip
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add_all(rows)


async def test_a_site_forecast_from_its_own_history(app: FastAPI, clean_db: AsyncEngine) -> None:
    await _encounters(clean_db, app.state.flow.clock.now())
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        login = await client.post("/api/v1/auth/dev-login", json={"username": "sm.anyborough"})
        manager = {"Authorization": f"Bearer {login.json()['access_token']}"}
        answer = await client.get("/api/v1/sites/RAN01/forecast", headers=manager)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["in_ed"] == 3
        assert body["history_attendances"] == 14 * 24 - 1
        four, eight, day = body["windows"]
        assert [w["hours"] for w in body["windows"]] == [4, 8, 24]
        assert sum(four["admissions_distribution"]) == pytest.approx(1.0, abs=1e-4)
        assert four["expected_admissions"] == pytest.approx(
            four["from_ed"] + four["from_arrivals"] + four["from_en_route"], abs=0.02
        )
        assert four["from_ed"] == pytest.approx(0.5 + 0.5 + 1.0, abs=0.01)  # DTA: certain
        assert four["expected_discharges"] == pytest.approx(0.0)  # no spell had an EDD before
        assert four["admissions_at_least_90"] <= four["admissions_at_least_70"]
        assert day["expected_admissions"] > eight["expected_admissions"] > 0
        assert body["opel_level_now"] == 1  # an empty hospital
        assert body["opel_rise_4h"] == pytest.approx(0.0)  # 650 beds will not fill in 4 h
        await _encounters(clean_db, app.state.flow.clock.now(), prefix="MORE")
        again = (await client.get("/api/v1/sites/RAN01/forecast", headers=manager)).json()
        assert again == body  # within the minute, every board shares one computation
        other = await client.get("/api/v1/sites/RWV01/forecast", headers=manager)
        assert other.status_code == 404
        community = await client.get("/api/v1/sites/QAB01/forecast", headers=manager)
        assert community.status_code == 404
        assert (await client.get("/api/v1/sites/RAN01/forecast")).status_code == 401


async def test_the_discharge_teams_expected_dates_are_counted(
    app: FastAPI, clean_db: AsyncEngine
) -> None:
    """Expected dates of discharge from the discharge feed (a date: its afternoon): of ten spells
    that left in the last fortnight, eight left on their date; of the inpatients now, one is
    expected today and one is three days past hers (delayed: not expected)."""
    now = app.state.flow.clock.now()
    today = now.astimezone(LONDON).date()
    rows: list[Encounter | DischargePlan] = []
    for n in range(10):
        left = now - timedelta(days=n + 1)
        planned = left.astimezone(LONDON).date() - timedelta(days=0 if n < 8 else 3)
        rows += [
            Encounter(id=f"D{n}", site_code="RAN01", status="discharged",
                      admitted_at=left - timedelta(days=4), discharged_at=left),
            _plan(f"D{n}", planned, now),
        ]  # fmt: skip
    for spell, planned in (("IN1", today), ("IN2", today - timedelta(days=3))):
        rows += [
            Encounter(id=spell, site_code="RAN01", status="admitted",
                      admitted_at=now - timedelta(days=5)),
            _plan(spell, planned, now),
        ]  # fmt: skip
    async with async_sessionmaker(clean_db)() as session, session.begin():
        session.add_all(rows)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        login = await client.post("/api/v1/auth/dev-login", json={"username": "commander"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        body = (await client.get("/api/v1/sites/RAN01/forecast", headers=headers)).json()
    assert body["on_time_discharge_share"] == pytest.approx(0.8)
    day = body["windows"][2]
    assert day["expected_discharges"] == pytest.approx(0.8)  # IN1 only, as often as on time


def _plan(spell: str, planned: date, now: datetime) -> DischargePlan:
    date_text = planned.isoformat()
    return DischargePlan(spell_id=spell, status="not_ready", occurred_at=now,
                         expected_discharge_date=date_text, event_id=f"{spell}-plan")  # fmt: skip
