"""Sign-in to the boards through an OpenID provider: authorization code flow with PKCE (S256),
the way NHS organisations sign in (NHS CIS2 and Microsoft Entra ID are both OpenID providers).

Authlib is the relying party: it fetches the provider's metadata, keeps state, nonce and the
PKCE verifier in a signed cookie for the round trip, exchanges the code and verifies the ID
token (signature from the provider's keys, issuer, audience, expiry, nonce). The person's claims
are mapped to one of this service's roles (FLOWCC_OIDC_ROLE_MAP), and the service issues its
own session token (the same kind development's login issues, so the websocket ends the session
at its expiry). The browser never sees the provider's tokens; this service's token reaches the
page through a same-origin POST, never through a URL.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from joserfc.errors import JoseError
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

from app.audit.repository import AuditRepository
from app.auth.schemas import Principal, Role, TokenOut
from app.auth.tokens import issue_token
from app.config import OidcSettings, Settings
from app.deps import SessionDep, SettingsDep
from app.errors import DependencyUnavailable, Forbidden, NotFound, Unauthorized

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

# The most privileged role the claims grant wins; integration roles are for API keys only.
ROLE_ORDER = (Role.ADMIN, Role.COMMANDER, Role.SITE_MANAGER, Role.SOCIAL_CARE)
SIGNED_IN = "flowcc.signed_in"
FAILED = "flowcc.sign_in_failed"
ID_TOKEN = "flowcc.id_token"


class SignInOptions(BaseModel):
    dev_login: bool
    # "Sign in with …" when an identity provider is configured, else None.
    oidc: str | None


def install(app: FastAPI, settings: Settings) -> None:
    """The relying party and its signed round-trip cookie, when FLOWCC_OIDC_ISSUER is set. No
    I/O here: the provider's metadata is fetched at the first sign-in."""
    oidc = settings.oidc
    if not oidc.enabled or oidc.issuer is None:
        app.state.oidc = None
        return
    # Values of any type: Authlib's client keyword arguments (it takes **kwargs).
    options: dict[str, Any] = {"scope": oidc.scopes, "code_challenge_method": "S256"}
    if oidc.client_secret is None:
        options["token_endpoint_auth_method"] = "none"
    app.state.oidc = OAuth().register(
        "provider",
        server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_id=oidc.client_id,
        client_secret=oidc.client_secret.get_secret_value() if oidc.client_secret else None,
        client_kwargs=options,
    )
    key = hmac.new(settings.auth.signing_secret.encode(), b"oidc-cookie", hashlib.sha256)
    app.add_middleware(
        SessionMiddleware,
        secret_key=key.hexdigest(),
        session_cookie="flowcc_signin",
        max_age=settings.auth.token_ttl_seconds,
        same_site="lax",
        https_only=bool(oidc.public_url and oidc.public_url.startswith("https://")),
    )


def _client(request: Request) -> StarletteOAuth2App:
    client: StarletteOAuth2App | None = request.app.state.oidc
    if client is None:
        raise NotFound("sign-in through an identity provider is not configured here")
    return client


@contextmanager
def _provider_unavailable() -> Iterator[None]:
    """The provider unreachable or answering nonsense (its discovery, its metadata): a 503."""
    try:
        yield
    except (httpx2.HTTPError, OAuthError, ValueError) as error:
        raise DependencyUnavailable(f"identity provider: {error}") from error


def _base(request: Request, oidc: OidcSettings) -> str:
    return (oidc.public_url or str(request.base_url)).rstrip("/")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def principal_from_claims(claims: Mapping[str, Any], oidc: OidcSettings) -> Principal:
    """The person's role (the most privileged one granted), sites and local authorities."""
    granted = {oidc.role_map.get(value, value) for value in _strings(claims.get(oidc.roles_claim))}
    role = next((role for role in ROLE_ORDER if role.value in granted), None)
    if role is None:
        raise Forbidden(
            f"your account has no Flow Command Centre role (claim '{oidc.roles_claim}'): "
            "ask your organisation's administrator for one"
        )
    sites = sorted(set(_strings(claims.get(oidc.sites_claim))))
    las = sorted(set(_strings(claims.get(oidc.las_claim))))
    if role == Role.SITE_MANAGER and not sites:
        raise Forbidden(f"a site manager needs at least one site (claim '{oidc.sites_claim}')")
    if role == Role.SOCIAL_CARE and not las:
        raise Forbidden(f"social care needs a local authority (claim '{oidc.las_claim}')")
    subject = str(claims.get("sub") or "")
    if not subject:
        raise Unauthorized("the identity provider's answer names no subject")
    name = str(claims.get("name") or claims.get("preferred_username") or subject)
    return Principal(
        subject=f"oidc:{subject}", name=name, role=role, sites=sites, local_authorities=las
    )


@router.get("/sign-in-options", summary="How people sign in here (no credentials needed)")
async def sign_in_options(settings: SettingsDep) -> SignInOptions:
    oidc = settings.oidc.display_name if settings.oidc.enabled else None
    return SignInOptions(
        dev_login=bool(settings.development and settings.auth.demo_users), oidc=oidc
    )


@router.get(
    "/oidc/login",
    summary="Start signing in at the identity provider (a browser navigation: 302)",
    status_code=302,
    response_class=RedirectResponse,
)
async def oidc_login(request: Request, settings: SettingsDep) -> RedirectResponse:
    client = _client(request)
    request.session.pop(FAILED, None)
    callback = _base(request, settings.oidc) + "/api/v1/auth/oidc/callback"
    with _provider_unavailable():
        response: RedirectResponse = await client.authorize_redirect(request, callback)
    return response


@router.get(
    "/oidc/callback",
    summary="Where the identity provider returns the browser (then on to the boards: 303)",
    status_code=303,
    response_class=RedirectResponse,
)
async def oidc_callback(
    request: Request, settings: SettingsDep, session: SessionDep
) -> RedirectResponse:
    client = _client(request)
    try:
        token = await client.authorize_access_token(request)
        principal = principal_from_claims(token.get("userinfo") or {}, settings.oidc)
    except OAuthError as error:
        request.session[FAILED] = f"sign-in failed: {error.description or error.error}"
    except JoseError as error:  # the ID token: expired, not yet valid, wrong issuer or audience
        request.session[FAILED] = f"sign-in failed: the identity provider's ID token: {error}"
    except (Forbidden, Unauthorized) as error:
        request.session[FAILED] = error.message
    except httpx2.HTTPError as error:
        raise DependencyUnavailable(f"identity provider: {error}") from error
    else:
        AuditRepository(session).record(principal, "auth.sign_in", f"user:{principal.subject}")
        request.session[ID_TOKEN] = token.get("id_token")
        request.session[SIGNED_IN] = TokenOut(
            access_token=issue_token(settings.auth, principal),
            expires_in=settings.auth.token_ttl_seconds,
            principal=principal,
            landing_view=principal.landing_view(),
            permissions=principal.permissions(),
        ).model_dump(mode="json")
    return RedirectResponse(_base(request, settings.oidc) + "/", status_code=303)


@router.post(
    "/oidc/session",
    summary="The session a sign-in just made, once (same-origin: the boards' page)",
    responses={403: {"description": "The sign-in was refused, and why"}},
)
async def oidc_session(request: Request) -> TokenOut:
    _client(request)
    failed = request.session.pop(FAILED, None)
    if failed:
        raise Forbidden(str(failed))
    signed_in = request.session.pop(SIGNED_IN, None)
    if signed_in is None:
        raise NotFound("no sign-in in progress")
    return TokenOut.model_validate(signed_in)


@router.get(
    "/oidc/logout",
    summary="Sign out at the identity provider too (a browser navigation: 302)",
    status_code=302,
    response_class=RedirectResponse,
)
async def oidc_logout(request: Request, settings: SettingsDep) -> RedirectResponse:
    client = _client(request)
    id_token = request.session.pop(ID_TOKEN, None)
    request.session.clear()
    home = _base(request, settings.oidc) + "/"
    with _provider_unavailable():
        metadata = await client.load_server_metadata()
        if not metadata.get("end_session_endpoint"):
            return RedirectResponse(home, status_code=303)
        response: RedirectResponse = await client.logout_redirect(
            request, post_logout_redirect_uri=home, id_token_hint=id_token,
            client_id=settings.oidc.client_id,
        )  # fmt: skip
    return response
