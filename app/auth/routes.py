"""Development login (make run) and ``whoami``."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.deps import CurrentUser
from app.auth.schemas import DEMO_USERS, DevLogin, Principal, TokenOut
from app.auth.tokens import issue_token
from app.deps import SettingsDep
from app.errors import NotFound, Unauthorized

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.get("/demo-users", summary="Development users (only when demo users are enabled)")
async def demo_users(settings: SettingsDep) -> list[Principal]:
    if not settings.auth.demo_users:
        raise NotFound("demo users are disabled")
    return list(DEMO_USERS.values())


@router.post(
    "/dev-login",
    summary="Log in as a development user (refused outside development mode)",
    responses={401: {"description": "Unknown user or demo users disabled"}},
)
async def dev_login(body: DevLogin, settings: SettingsDep) -> TokenOut:
    principal = DEMO_USERS.get(body.username) if settings.auth.demo_users else None
    if principal is None:
        raise Unauthorized("unknown development user, or demo users are disabled")
    return TokenOut(
        access_token=issue_token(settings.auth, principal),
        expires_in=settings.auth.token_ttl_seconds,
        principal=principal,
        landing_view=principal.landing_view(),
    )


@router.get("/me", summary="The authenticated principal")
async def me(user: CurrentUser) -> Principal:
    return user
