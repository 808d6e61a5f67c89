"""Bearer JWTs: HS256 with a shared secret locally; RS256/ES256 from a JWKS in production."""

from __future__ import annotations

import time
from functools import lru_cache

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


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True)


def verify_token(settings: AuthSettings, token: str) -> Principal:
    try:
        if settings.jwks_url:
            key = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token).key
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
