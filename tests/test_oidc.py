"""The boards' OpenID sign-in at the HTTP level (the browser test walks it end to end): the
redirect carries PKCE (S256), state and nonce; a forged callback is refused; claims map to roles
as configured; production refuses an unusable configuration."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.access.oidc import principal_from_claims
from app.auth.schemas import Role
from app.config import AuthSettings, KafkaSettings, OidcSettings, Settings
from app.errors import Forbidden
from tests.support import free_port
from tests.support.oidc_provider import ROLE_MAP, openid_provider
from tests.support.services import live_server

OIDC = OidcSettings(issuer="https://login.example.nhs.uk", role_map=ROLE_MAP)


async def test_the_redirect_carries_pkce_and_a_forged_callback_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    with openid_provider(f"http://127.0.0.1:{port}", tmp_path / "oidc.log") as provider:
        async with (
            live_server(settings, port=port, extra_env=provider.environment()) as host,
            httpx.AsyncClient(base_url=f"http://{host}") as client,
        ):
            options = (await client.get("/api/v1/auth/sign-in-options")).json()
            started = await client.get("/api/v1/auth/oidc/login")
            forged = await client.get(
                "/api/v1/auth/oidc/callback", params={"code": "stolen", "state": "guessed"}
            )
            refused = await client.post("/api/v1/auth/oidc/session")
            nothing = await client.post("/api/v1/auth/oidc/session")
    assert options == {"dev_login": True, "oidc": "Test NHS Identity"}
    assert started.status_code == 302
    location = started.headers["location"]
    assert location.startswith(f"{provider.issuer}/auth?")
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == provider.client_id
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256
    assert query["state"]
    assert query["nonce"]
    assert query["redirect_uri"] == f"http://{host}/api/v1/auth/oidc/callback"
    assert forged.status_code == 303  # back to the boards, which show why
    assert refused.status_code == 403
    assert "sign-in failed" in refused.json()["error"]["message"]
    assert nothing.status_code == 404


async def test_without_a_provider_there_is_no_oidc_route(asgi_client: httpx.AsyncClient) -> None:
    assert (await asgi_client.get("/api/v1/auth/oidc/login")).status_code == 404
    options = (await asgi_client.get("/api/v1/auth/sign-in-options")).json()
    assert options == {"dev_login": True, "oidc": None}


@pytest.mark.parametrize(
    ("claims", "role", "sites"),
    [
        ({"sub": "a", "roles": ["FlowCC.Commander"]}, Role.COMMANDER, []),
        (
            {"sub": "a", "roles": "FlowCC.SiteManager", "sites": "RAN01"},
            Role.SITE_MANAGER,
            ["RAN01"],
        ),
        # The most privileged role granted wins; a claim equal to a role's name maps to it.
        ({"sub": "a", "roles": ["FlowCC.SocialCare", "admin"], "las": ["E1"]}, Role.ADMIN, []),
    ],
)
def test_claims_map_to_a_role(claims: dict[str, object], role: Role, sites: list[str]) -> None:
    principal = principal_from_claims(claims, OIDC)
    assert (principal.role, principal.sites, principal.subject) == (role, sites, "oidc:a")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "a"}, "no Flow Command Centre role"),
        ({"sub": "a", "roles": ["integration_ingest"]}, "no Flow Command Centre role"),
        ({"sub": "a", "roles": ["FlowCC.SiteManager"]}, "needs at least one site"),
        ({"sub": "a", "roles": ["FlowCC.SocialCare"]}, "needs a local authority"),
    ],
)
def test_claims_without_a_usable_role_are_refused(claims: dict[str, object], reason: str) -> None:
    with pytest.raises(Forbidden, match=reason):
        principal_from_claims(claims, OIDC)


def test_production_refuses_an_unusable_provider_configuration() -> None:
    secrets = {"FLOWCC_JWT_SECRET": "s" * 40, "FLOWCC_PSEUDONYM_KEY": "p" * 40}
    with pytest.raises(ValueError, match="FLOWCC_OIDC_CLIENT_ID must be set") as refused:
        Settings(
            environment="production",
            auth=AuthSettings.model_validate(secrets),
            kafka=KafkaSettings.model_validate({"KAFKA_SECURITY_PROTOCOL": "SSL"}),
            oidc=OidcSettings(issuer="http://idp.internal"),
        )
    assert "FLOWCC_OIDC_ISSUER must be https" in str(refused.value)
