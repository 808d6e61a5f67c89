"""API keys for integrations, and the bearer tokens that must be refused (issue #5 item 4)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DEV_JWT_SECRET
from tests.support import bearer

pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture
async def client(asgi_client: AsyncClient) -> AsyncClient:
    return asgi_client


async def test_an_issued_key_acts_in_its_role_until_revoked(client: AsyncClient) -> None:
    admin = await bearer(client, "admin")
    body = {"name": "BI warehouse", "role": "integration_read"}
    refused = await client.post(
        "/api/v1/api-keys", json=body, headers=await bearer(client, "commander")
    )
    assert refused.status_code == 403
    created = await client.post("/api/v1/api-keys", json=body, headers=admin)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("fcc_")
    with_key = {"X-API-Key": key}
    assert (await client.get("/api/v1/system", headers=with_key)).status_code == 200
    assert (await client.get("/api/v1/audit", headers=with_key)).status_code == 403  # read only
    me = (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})).json()
    assert (me["role"], me["name"]) == ("integration_read", "BI warehouse")

    listed = (await client.get("/api/v1/api-keys", headers=admin)).json()
    assert [k["name"] for k in listed] == ["BI warehouse"]
    assert key not in str(listed)  # never shown again
    assert listed[0]["last_used_at"] is not None

    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")  # right prefix
    assert (await client.get("/api/v1/system", headers={"X-API-Key": forged})).status_code == 401
    revoked = await client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=admin)
    assert revoked.json()["revoked_at"] is not None
    answer = await client.get("/api/v1/system", headers=with_key)
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "unknown or revoked API key"
    audit = (await client.get("/api/v1/audit", headers=admin)).json()["items"]
    assert [e["action"] for e in audit if e["action"].startswith("api_key")] == [
        "api_key.create",
        "api_key.revoke",
    ]


async def test_a_key_cannot_carry_a_human_role(client: AsyncClient) -> None:
    admin = await bearer(client, "admin")
    body = {"name": "sneaky", "role": "admin"}
    assert (await client.post("/api/v1/api-keys", json=body, headers=admin)).status_code == 422


def _token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": "flowcc-dev", "aud": "flowcc", "sub": "x", "iat": now, "exp": now + 3600,
              "role": "commander", "name": "x"} | overrides  # fmt: skip
    secret = str(claims.pop("secret", DEV_JWT_SECRET))
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": -5}, "token expired"),  # exp relative to now, seconds
        ({"aud": "someone-else"}, "token audience is not this service"),
        ({"iss": "evil"}, "invalid token"),
        ({"secret": "not-the-secret-at-all-but-long-enough"}, "invalid token"),
        ({"role": "overlord"}, "token carries no valid role"),
        ({"raw": "not.a.jwt"}, "invalid token"),
    ],
)
async def test_expired_forged_or_foreign_tokens_are_refused(
    client: AsyncClient, claims: dict[str, Any], why: str
) -> None:
    """Tokens are made when the test runs (a collection-time token could expire first)."""
    overrides = dict(claims)
    if "exp" in overrides:
        overrides["exp"] = int(time.time()) + overrides["exp"]
    token = overrides.pop("raw", None) or _token(**overrides)
    answer = await client.get("/api/v1/system", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json()["error"]["message"].startswith(why)
    valid = {"Authorization": f"Bearer {_token()}"}
    assert (await client.get("/api/v1/system", headers=valid)).status_code == 200


async def test_a_keys_last_use_is_written_at_most_once_a_minute(
    client: AsyncClient, clean_db: AsyncEngine
) -> None:
    """Not an UPDATE per request: a use within a minute of the recorded one leaves it; a use
    after that records the new time."""
    admin = await bearer(client, "admin")
    body = {"name": "Dashboard", "role": "integration_read"}
    created = (await client.post("/api/v1/api-keys", json=body, headers=admin)).json()
    with_key = {"X-API-Key": created["key"]}

    async def last_used() -> str:
        listed = (await client.get("/api/v1/api-keys", headers=admin)).json()
        return str(listed[0]["last_used_at"])

    assert (await client.get("/api/v1/system", headers=with_key)).status_code == 200
    first = await last_used()
    assert first != "None"
    assert (await client.get("/api/v1/system", headers=with_key)).status_code == 200
    assert await last_used() == first  # within the minute: not written again

    async with clean_db.begin() as connection:
        await connection.execute(
            text("UPDATE api_keys SET last_used_at = now() - interval '2 minutes'")
        )
    stale = await last_used()
    assert (await client.get("/api/v1/system", headers=with_key)).status_code == 200
    assert await last_used() > stale
