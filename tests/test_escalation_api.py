"""Escalation and flow REST: who may read and declare what, history, errors, the dev clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.config import Settings
from app.main import create_app

pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"clock": "offset"}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        await app.state.flow.ready.wait()
        yield client


async def auth(client: AsyncClient, user: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/dev-login", json={"username": user})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_levels_are_role_scoped(client: AsyncClient) -> None:
    commander = await client.get("/api/v1/escalation", headers=await auth(client, "commander"))
    scopes = {level["scope"] for level in commander.json()["levels"]}
    assert scopes == {"RAN01", "RWV01", "RNF01", "QAB"}
    manager = await client.get("/api/v1/escalation", headers=await auth(client, "sm.anyborough"))
    assert {level["scope"] for level in manager.json()["levels"]} == {"RAN01"}
    assert (await client.get("/api/v1/escalation")).status_code == 401


async def test_declaring_a_level_is_kept_with_who_and_why(client: AsyncClient) -> None:
    manager = await auth(client, "sm.anyborough")
    body = {"level": 3, "reason": "Norovirus: two wards closed"}
    declared = await client.post("/api/v1/escalation/RAN01/declare", json=body, headers=manager)
    assert declared.status_code == 200, declared.text
    assert declared.json()["opel"]["declared"]["level"] == 3
    assert declared.json()["opel"]["declared"]["by"] == "sm.anyborough"

    history = await client.get("/api/v1/escalation/RAN01/history", headers=manager)
    kinds = [(item["kind"], item["level"], item["actor"]) for item in history.json()["items"]]
    assert kinds[0] == ("declared", 3, "sm.anyborough")
    assert ("computed", 1, None) in kinds  # the first assessment of an empty site

    flow = (await client.get("/api/v1/sites/RAN01/flow", headers=manager)).json()
    assert flow["opel"]["declared"]["reason"] == "Norovirus: two wards closed"
    assert flow["beds"]["open"] == 650


@pytest.mark.parametrize(
    ("user", "scope", "status"),
    [
        ("sm.anyborough", "RWV01", 404),  # another site: not visible
        ("sm.anyborough", "QAB", 404),  # the system level: not a site manager's
        ("sc.anyborough", "RAN01", 404),
        ("bi.reader", "RAN01", 403),  # may read, may not declare
        ("commander", "QAB", 200),
        ("admin", "RNF01", 200),
    ],
)
async def test_who_may_declare(client: AsyncClient, user: str, scope: str, status: int) -> None:
    body = {"level": 2, "reason": "test of the role matrix"}
    response = await client.post(
        f"/api/v1/escalation/{scope}/declare", json=body, headers=await auth(client, user)
    )
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.json()["error"]["message"]


async def test_a_bad_declaration_is_a_422_with_the_field(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/escalation/RAN01/declare",
        json={"level": 5, "reason": ""},
        headers=await auth(client, "commander"),
    )
    assert response.status_code == 422
    assert "level" in response.text
    assert "reason" in response.text


async def test_the_engine_clock_moves_only_for_an_admin(client: AsyncClient) -> None:
    body = {"minutes": 30}
    commander = await auth(client, "commander")
    assert (await client.post("/api/v1/dev/clock", json=body, headers=commander)).status_code == 403
    moved = await client.post("/api/v1/dev/clock", json=body, headers=await auth(client, "admin"))
    assert moved.status_code == 200
    assert moved.json()["offset_seconds"] == 1800


async def test_the_dev_clock_does_not_exist_on_the_system_clock(settings: Settings) -> None:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.post(
            "/api/v1/dev/clock", json={"minutes": 5}, headers=await auth(client, "admin")
        )
        assert response.status_code == 404


async def test_metric_samples_are_a_time_series(client: AsyncClient) -> None:
    commander = await auth(client, "commander")
    response = await client.get(
        "/api/v1/metric-samples",
        params={"scope": "RAN01", "metric": "beds.occupancy_pct"},
        headers=commander,
    )
    assert response.status_code == 200
    assert response.json()["points"][0]["value"] == 0.0  # an empty hospital, sampled at start
