"""``CurrentUser``: the authenticated principal of a request, or 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.schemas import Principal
from app.auth.tokens import verify_token
from app.deps import SettingsDep
from app.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="OAuth2 bearer JWT")


def current_user(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("missing bearer token (Authorization: Bearer <jwt>)")
    return verify_token(settings.auth, credentials.credentials)


CurrentUser = Annotated[Principal, Depends(current_user)]
