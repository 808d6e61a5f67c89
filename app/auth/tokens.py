"""Bearer JWTs: HS256 with a shared secret locally; RS256/ES256 from a JWKS in production."""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Any

import jwt

from app.auth.schemas import Principal
from app.config import AuthSettings
from app.errors import Unauthorized


def issue_token(settings: AuthSettings, principal: Principal) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": principal.subject,
        "iat": now,
        "exp": now + settings.token_ttl_seconds,
        "name": principal.name,
        "role": principal.role.value,
        "sites": principal.sites,
        "las": principal.local_authorities,
    }
    return jwt.encode(claims, settings.signing_secret, algorithm="HS256")


REFRESH_FLOOR_SECONDS = 30.0  # an unknown key id fetches the provider's keys at most this often


class Jwks:
    """The identity provider's signing keys: the key set is cached (an hour), and a token with
    a key id not in it fetches the set again at most once per REFRESH_FLOOR_SECONDS — a flood of
    made-up key ids cannot turn into a flood of requests to the provider. Blocking (urllib):
    ``authenticate`` calls it off the event loop."""

    def __init__(self, url: str) -> None:
        self.client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=3600, timeout=10)
        self.refreshed = -REFRESH_FLOOR_SECONDS
        self.lock = threading.Lock()

    def signing_key(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        with self.lock:
            found = self._find(kid, refresh=False)
            if found is None and time.monotonic() - self.refreshed >= REFRESH_FLOOR_SECONDS:
                self.refreshed = time.monotonic()
                found = self._find(kid, refresh=True)
        if found is None:
            raise Unauthorized("token signed with a key the identity provider does not publish")
        return found.key

    def _find(self, kid: str | None, *, refresh: bool) -> jwt.PyJWK | None:
        keys = self.client.get_signing_keys(refresh=refresh)
        return next((key for key in keys if key.key_id == kid), None)


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> Jwks:
    return Jwks(url)


def verify_token(settings: AuthSettings, token: str) -> Principal:
    try:
        if settings.jwks_url:
            key = _jwks_client(settings.jwks_url).signing_key(token)
            algorithms = ["RS256", "ES256"]
        else:
            key, algorithms = settings.signing_secret, ["HS256"]
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("token expired") from error
    except jwt.InvalidAudienceError as error:
        raise Unauthorized("token audience is not this service") from error
    except jwt.PyJWTError as error:
        raise Unauthorized(f"invalid token: {error}") from error
    try:
        return Principal(
            subject=claims["sub"],
            name=claims.get("name", claims["sub"]),
            role=claims["role"],
            sites=claims.get("sites", []),
            local_authorities=claims.get("las", []),
        )
    except (KeyError, ValueError) as error:
        raise Unauthorized("token carries no valid role") from error


def token_expiry(token: str) -> float | None:
    """When an already verified JWT expires (epoch seconds); None for an API key."""
    if token.startswith("fcc_"):
        return None
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(exp) if isinstance(exp, int | float) else None
