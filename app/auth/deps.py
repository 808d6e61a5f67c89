"""``CurrentUser``: the authenticated principal of a request (bearer JWT, or an API key for
integrations), or 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.auth.apikeys import looks_like_api_key, verify_api_key
from app.auth.repository import ApiKeyRepository
from app.auth.schemas import Principal
from app.auth.tokens import verify_token
from app.deps import SessionDep, SettingsDep
from app.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="OAuth2 bearer JWT")
api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An integration's API key (fcc_...)"
)


async def current_user(
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    key: Annotated[str | None, Depends(api_key)],
) -> Principal:
    if key is not None:
        return await verify_api_key(ApiKeyRepository(session), key)
    if credentials is None:
        raise Unauthorized("missing bearer token (Authorization: Bearer <jwt>) or X-API-Key")
    if looks_like_api_key(credentials.credentials):
        return await verify_api_key(ApiKeyRepository(session), credentials.credentials)
    return verify_token(settings.auth, credentials.credentials)


CurrentUser = Annotated[Principal, Depends(current_user)]
