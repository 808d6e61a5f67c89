"""``CurrentUser``: the authenticated principal of a request (bearer JWT, or an API key for
integrations), or 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.auth.apikeys import authenticate
from app.auth.schemas import Principal
from app.deps import ResourcesDep
from app.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="OAuth2 bearer JWT")
api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An integration's API key (fcc_...)"
)


async def current_user(
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    key: Annotated[str | None, Depends(api_key)],
) -> Principal:
    token = key if key is not None else credentials.credentials if credentials else None
    if token is None:
        raise Unauthorized("missing bearer token (Authorization: Bearer <jwt>) or X-API-Key")
    return await authenticate(token, resources.settings.auth, resources.sessionmaker)


CurrentUser = Annotated[Principal, Depends(current_user)]
