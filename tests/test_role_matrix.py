"""Every role against every read endpoint: exactly the status the role model says (200, 403 or
404 — "not visible" is a 404, "visible but not allowed" a 403), and 401 without a token."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

pytestmark = pytest.mark.usefixtures("clean_db")

ROLES = ("sm.anyborough", "sm.westvale", "sc.anyborough", "commander", "bi.reader", "pas.ingest",
         "admin")  # fmt: skip
# Status per role, in the order of ROLES.
MATRIX: dict[str, tuple[int, ...]] = {
    "/api/v1/economy": (200, 200, 200, 200, 200, 200, 200),
    "/api/v1/system": (404, 404, 404, 200, 200, 404, 200),
    "/api/v1/sites/RAN01": (200, 404, 404, 200, 200, 404, 200),
    "/api/v1/sites/RAN01/flow": (200, 404, 404, 200, 200, 404, 200),
    "/api/v1/sites/RWV01/flow": (404, 200, 404, 200, 200, 404, 200),
    "/api/v1/escalation": (200, 200, 200, 200, 200, 200, 200),
    "/api/v1/escalation/RAN01/history": (200, 404, 404, 200, 200, 404, 200),
    "/api/v1/escalation/QAB/history": (404, 404, 404, 200, 200, 404, 200),
    "/api/v1/metric-samples?scope=RAN01&metric=beds.free": (200, 404, 404, 200, 200, 404, 200),
    "/api/v1/discharges": (200, 200, 200, 200, 200, 403, 200),
    "/api/v1/dead-letters": (403, 403, 403, 200, 200, 403, 200),
    "/api/v1/dead-letters/1": (403, 403, 403, 403, 403, 403, 404),  # the message: admin only
    "/api/v1/location-exceptions": (200, 200, 403, 200, 200, 403, 200),
    "/api/v1/audit": (403, 403, 403, 403, 403, 403, 200),
    "/api/v1/care-homes": (200, 200, 200, 200, 200, 403, 200),
    "/api/v1/care-homes?local_authority=E10000902": (200, 200, 404, 200, 200, 403, 200),
    "/api/v1/api-keys": (403, 403, 403, 403, 403, 403, 200),
    "/api/v1/webhooks": (403, 403, 403, 403, 403, 403, 200),
}


@pytest.fixture
async def client(asgi_client: AsyncClient) -> AsyncClient:
    return asgi_client


@pytest.mark.parametrize("path", list(MATRIX))
async def test_every_role_gets_exactly_its_status(client: AsyncClient, path: str) -> None:
    got = []
    for user in ROLES:
        login = await client.post("/api/v1/auth/dev-login", json={"username": user})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        response = await client.get(path, headers=headers)
        got.append(response.status_code)
        if response.status_code >= 400:
            assert response.json()["error"]["message"], (user, path)
    assert dict(zip(ROLES, got, strict=True)) == dict(zip(ROLES, MATRIX[path], strict=True))
    assert (await client.get(path)).status_code == 401


async def test_site_managers_see_only_their_sites_in_lists(client: AsyncClient) -> None:
    login = await client.post("/api/v1/auth/dev-login", json={"username": "sm.westvale"})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    economy = (await client.get("/api/v1/economy", headers=headers)).json()
    assert [site["code"] for site in economy["sites"]] == ["RWV01"]
    levels = (await client.get("/api/v1/escalation", headers=headers)).json()["levels"]
    assert {level["scope"] for level in levels} == {"RWV01"}
