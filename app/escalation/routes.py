"""OPEL: current levels, history, and declaring a level (REST, role-scoped)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks

from app.auth.deps import CurrentUser
from app.auth.schemas import Principal
from app.deps import Scope, SessionDep
from app.errors import Forbidden, NotFound
from app.escalation.deps import EscalationRuntime, EscalationRuntimeDep
from app.escalation.repository import EscalationRepository
from app.escalation.schemas import (
    Declared,
    DeclareIn,
    EscalationNow,
    HistoryEntry,
    HistoryPage,
    ReadingOut,
)
from app.escalation.service import declare, opel_view
from app.pagination import BeforeId, PageSize
from app.webhooks.service import enqueue

router = APIRouter(prefix="/api/v1/escalation", tags=["escalation"])


def _may_see(user: Principal, scope: str, flow: EscalationRuntime) -> bool:
    return user.may_see_scope(scope, flow.system_scope)


@router.get(
    "",
    summary="Current OPEL of every visible site and of the system, with the profile",
    response_model=EscalationNow,
)
async def current(
    session: SessionDep, user: CurrentUser, flow: EscalationRuntimeDep
) -> EscalationNow:
    states = await EscalationRepository(session).states()
    return EscalationNow(
        profile=flow.profile,
        system_scope=flow.system_scope,
        levels=[opel_view(state) for scope, state in states.items() if _may_see(user, scope, flow)],
    )


@router.get(
    "/{scope}/history",
    summary="Every computed and declared change, newest first",
    response_model=HistoryPage,
)
async def history(
    scope: Scope,
    session: SessionDep,
    user: CurrentUser,
    flow: EscalationRuntimeDep,
    before_id: BeforeId = None,
    limit: PageSize = 100,
) -> HistoryPage:
    if not _may_see(user, scope, flow):
        raise NotFound(f"no escalation scope {scope} visible to this role")
    rows = await EscalationRepository(session).history(scope, before_id=before_id, limit=limit)
    return HistoryPage(
        items=[
            HistoryEntry(
                id=row.id,
                kind=row.kind,
                level=row.level,
                previous_level=row.previous_level,
                score=row.score,
                readings=[ReadingOut.model_validate(reading) for reading in row.readings],
                actor=row.actor,
                reason=row.reason,
                at=row.at.isoformat(),
            )
            for row in rows
        ],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


@router.post(
    "/{scope}/declare",
    summary="Declare the level (may differ from the computed one; who and why are kept)",
    responses={403: {"description": "This role may not declare for this scope"}},
    response_model=Declared,
)
async def declare_level(
    scope: Scope,
    body: DeclareIn,
    session: SessionDep,
    user: CurrentUser,
    flow: EscalationRuntimeDep,
    after: BackgroundTasks,
) -> Declared:
    if not _may_see(user, scope, flow):
        raise NotFound(f"no escalation scope {scope} visible to this role")
    if not user.may_declare_opel:
        raise Forbidden(f"role {user.role} may not declare an OPEL level")
    repo = EscalationRepository(session)
    state = await declare(repo, scope, body.level, body.reason, user.subject, flow.clock.now())
    view = opel_view(state)
    await enqueue(session, "opel.declared", scope, view.model_dump(mode="json") if view else {})
    # After the commit (background tasks run once the response is sent): boards are told.
    after.add_task(flow.changed, [scope])
    return Declared(opel=view)
