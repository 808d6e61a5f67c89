"""The boards' views over REST: a site's units and beds, and the whole system, live (the same
snapshots the websocket sends first; role-scoped)."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.deps import CurrentUser
from app.board.schemas import SiteView, SystemView
from app.board.snapshots import site_snapshot, system_snapshot
from app.deps import SessionDep, SiteCode
from app.errors import NotFound, Responses
from app.flow.deps import FlowDep

router = APIRouter(prefix="/api/v1", tags=["topology"])
NOT_VISIBLE: Responses = {404: {"description": "No such site, or not visible to this role"}}


@router.get("/system", summary="Every unit's bed counts across the economy")
async def system(session: SessionDep, user: CurrentUser, flow: FlowDep) -> SystemView:
    if not user.sees_everything:
        raise NotFound("the system view is not visible to this role")
    return await system_snapshot(session, flow)


@router.get("/sites/{site_code}", summary="A site's units and beds, live", responses=NOT_VISIBLE)
async def site(
    site_code: SiteCode, session: SessionDep, user: CurrentUser, flow: FlowDep
) -> SiteView:
    if not user.may_see_site(site_code):
        raise NotFound(f"no site {site_code} visible to this role")
    return await site_snapshot(session, site_code, flow)
