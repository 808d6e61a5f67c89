"""API keys for integrations: ``fcc_<prefix>_<secret>``. The prefix finds the key; only the
SHA-256 of the whole key is stored (the key is 256 bits of randomness, so a plain hash is not
guessable), compared in constant time. A key is shown once, at creation."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import ApiKey
from app.auth.repository import ApiKeyRepository
from app.auth.schemas import ApiKeyIn, Principal, Role
from app.auth.tokens import verify_token
from app.config import AuthSettings
from app.errors import Unauthorized

KEY_PREFIX = "fcc_"
KEY_ROLES = (Role.INTEGRATION_READ, Role.INTEGRATION_INGEST)
LAST_USED_RESOLUTION = timedelta(minutes=1)


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(body: ApiKeyIn, creator: Principal) -> tuple[str, ApiKey]:
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=body.name,
        role=body.role.value,
        sites=body.sites,
        local_authorities=body.local_authorities,
        prefix=prefix,
        secret_hash=_digest(plaintext),
        created_by=creator.subject,
    )
    return plaintext, row


async def authenticate(
    token: str, auth: AuthSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> Principal:
    """The principal of a bearer JWT or an API key — for REST and the websocket alike. A JWT is
    checked without the database (a thousand screens reconnecting must not queue for the pool);
    an API key is looked up in a short transaction of its own."""
    if not looks_like_api_key(token):
        if auth.jwks_url:  # may fetch the provider's keys: never on the event loop
            return await asyncio.to_thread(verify_token, auth, token)
        return verify_token(auth, token)
    async with sessionmaker() as session, session.begin():
        return await verify_api_key(ApiKeyRepository(session), token)


async def verify_api_key(repo: ApiKeyRepository, presented: str) -> Principal:
    prefix = presented.removeprefix(KEY_PREFIX).split("_", 1)[0]
    row = await repo.by_prefix(prefix) if looks_like_api_key(presented) else None
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(presented)):
        raise Unauthorized("unknown or revoked API key")
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        await repo.used(row.id, now)  # not an UPDATE per request: to the minute is enough
    return Principal(
        subject=f"apikey:{row.id}",
        name=row.name,
        role=Role(row.role),
        sites=list(row.sites),
        local_authorities=list(row.local_authorities),
    )
