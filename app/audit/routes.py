"""The audit log, for administrators."""

from __future__ import annotations

from fastapi import APIRouter

from app.audit.repository import AuditRepository
from app.audit.schemas import AuditEntryOut, AuditPage
from app.auth.deps import CurrentUser
from app.auth.schemas import Role
from app.deps import SessionDep
from app.errors import Forbidden
from app.pagination import AfterId, PageSize

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get(
    "/audit",
    summary="Every read of identifiable data: who, what, when (administrators only)",
    responses={403: {"description": "Not an administrator"}},
    response_model=AuditPage,
)
async def audit(
    session: SessionDep,
    user: CurrentUser,
    after: AfterId = 0,
    limit: PageSize = 100,
) -> AuditPage:
    if user.role != Role.ADMIN:
        raise Forbidden("the audit log is for administrators")
    entries = await AuditRepository(session).entries(after_id=after, limit=limit)
    return AuditPage(
        items=[
            AuditEntryOut(
                id=e.id,
                at=e.at.isoformat(),
                actor=e.actor,
                role=e.role,
                action=e.action,
                resource=e.resource,
                detail=e.detail,
            )
            for e in entries
        ],
        next_cursor=entries[-1].id if len(entries) == limit else None,
    )
