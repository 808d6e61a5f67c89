"""The audit log, for administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.audit.repository import AuditRepository
from app.auth.deps import CurrentUser
from app.auth.schemas import Role
from app.deps import SessionDep
from app.errors import Forbidden

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get(
    "/audit",
    summary="Every read of identifiable data: who, what, when (administrators only)",
    responses={403: {"description": "Not an administrator"}},
)
async def audit(
    session: SessionDep,
    user: CurrentUser,
    after: Annotated[int, Query(ge=0, description="Cursor: the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    if user.role != Role.ADMIN:
        raise Forbidden("the audit log is for administrators")
    entries = await AuditRepository(session).entries(after_id=after, limit=limit)
    return {
        "items": [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "resource": e.resource,
                "detail": e.detail,
            }
            for e in entries
        ],
        "next_cursor": entries[-1].id if len(entries) == limit else None,
    }
