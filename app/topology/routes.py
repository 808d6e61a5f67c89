"""Economy, sites and their live bed state (REST, role-scoped)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.auth.deps import CurrentUser
from app.board.snapshots import site_snapshot, system_snapshot
from app.deps import FlowDep, SessionDep, SiteCode
from app.errors import NotFound
from app.topology.repository import TopologyRepository

router = APIRouter(prefix="/api/v1", tags=["topology"])
NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such site, or not visible to this role"}
}


@router.get("/economy", summary="The economy: organisations, sites, local authorities")
async def economy(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    repo = TopologyRepository(session)
    return {
        "organisations": [
            {"code": o.code, "name": o.name, "kind": o.kind} for o in await repo.organisations()
        ],
        "sites": [
            {
                "code": s.code,
                "name": s.name,
                "kind": s.kind,
                "org": s.org_code,
                "local_authority": s.local_authority,
            }
            for s in await repo.sites()
            if user.may_see_site(s.code) or user.sees_everything
        ],
        "local_authorities": [
            {"code": la.code, "name": la.name, "neighbours": la.neighbours}
            for la in await repo.local_authorities()
        ],
    }


@router.get("/system", summary="Every unit's bed counts across the economy")
async def system(session: SessionDep, user: CurrentUser, flow: FlowDep) -> dict[str, Any]:
    if not user.sees_everything:
        raise NotFound("the system view is not visible to this role")
    return await system_snapshot(session, flow)


@router.get("/sites/{site_code}", summary="A site's units and beds, live", responses=NOT_VISIBLE)
async def site(
    site_code: SiteCode, session: SessionDep, user: CurrentUser, flow: FlowDep
) -> dict[str, Any]:
    if not user.may_see_site(site_code):
        raise NotFound(f"no site {site_code} visible to this role")
    return await site_snapshot(session, site_code, flow)
