"""Development login (make run), ``whoami``, and API keys for integrations (administrators)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from app.audit.repository import AuditRepository
from app.auth.apikeys import new_key
from app.auth.deps import CurrentUser
from app.auth.models import ApiKey
from app.auth.repository import ApiKeyRepository
from app.auth.schemas import (
    DEMO_USERS,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    DevLogin,
    Principal,
    Role,
    TokenOut,
)
from app.auth.tokens import issue_token
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import Forbidden, NotFound, Unauthorized
from app.pagination import MAX_ID

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
keys_router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])
KeyId = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]


def _development_only(settings: Settings) -> None:
    """Outside development these routes do not exist (404), whatever else is set."""
    if not (settings.development and settings.auth.demo_users):
        raise NotFound("not found")


@router.get(
    "/demo-users",
    summary="Development users (FLOWCC_ENVIRONMENT=development only; 404 elsewhere)",
)
async def demo_users(settings: SettingsDep) -> list[Principal]:
    _development_only(settings)
    return list(DEMO_USERS.values())


@router.post(
    "/dev-login",
    summary="Log in as a development user (FLOWCC_ENVIRONMENT=development only; 404 elsewhere)",
    responses={401: {"description": "Unknown development user"}},
)
async def dev_login(body: DevLogin, settings: SettingsDep) -> TokenOut:
    _development_only(settings)
    principal = DEMO_USERS.get(body.username)
    if principal is None:
        raise Unauthorized("unknown development user")
    return TokenOut(
        access_token=issue_token(settings.auth, principal),
        expires_in=settings.auth.token_ttl_seconds,
        principal=principal,
        landing_view=principal.landing_view(),
        permissions=principal.permissions(),
    )


@router.get("/me", summary="The authenticated principal")
async def me(user: CurrentUser) -> Principal:
    return user


def _admin(user: Principal) -> None:
    if user.role != Role.ADMIN:
        raise Forbidden("only an administrator may manage API keys")


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(row, from_attributes=True)


@keys_router.post("", status_code=201, summary="Issue an API key (shown once)")
async def create_key(body: ApiKeyIn, user: CurrentUser, session: SessionDep) -> ApiKeyCreated:
    _admin(user)
    plaintext, row = new_key(body, user)
    ApiKeyRepository(session).add(row)
    await session.flush()
    AuditRepository(session).record(user, "api_key.create", f"api-key:{row.id}", name=row.name)
    await session.refresh(row)
    return ApiKeyCreated(**_out(row).model_dump(), key=plaintext)


@keys_router.get("", summary="API keys (never their secrets)")
async def list_keys(user: CurrentUser, session: SessionDep) -> list[ApiKeyOut]:
    _admin(user)
    return [_out(row) for row in await ApiKeyRepository(session).listing()]


@keys_router.delete("/{key_id}", summary="Revoke an API key (effective at once)")
async def revoke_key(key_id: KeyId, user: CurrentUser, session: SessionDep) -> ApiKeyOut:
    _admin(user)
    row = await ApiKeyRepository(session).get(key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        AuditRepository(session).record(user, "api_key.revoke", f"api-key:{row.id}")
    return _out(row)
