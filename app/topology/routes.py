"""The economy: organisations, sites, local authorities (REST, role-scoped). The live state of
sites and of the system is presentation: app/board/rest.py."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.deps import CurrentUser
from app.deps import SessionDep
from app.topology.repository import TopologyRepository
from app.topology.schemas import EconomyOut, LocalAuthorityOut, OrganisationOut, SiteOut

router = APIRouter(prefix="/api/v1", tags=["topology"])


@router.get(
    "/economy",
    summary="The economy: organisations, sites, local authorities",
    response_model=EconomyOut,
)
async def economy(session: SessionDep, user: CurrentUser) -> EconomyOut:
    repo = TopologyRepository(session)
    return EconomyOut(
        organisations=[
            OrganisationOut(code=o.code, name=o.name, kind=o.kind)
            for o in await repo.organisations()
        ],
        sites=[
            SiteOut(
                code=s.code,
                name=s.name,
                kind=s.kind,
                org=s.org_code,
                local_authority=s.local_authority,
            )
            for s in await repo.sites()
            if user.may_see_site(s.code) or user.sees_everything
        ],
        local_authorities=[
            LocalAuthorityOut(code=la.code, name=la.name, neighbours=list(la.neighbours or []))
            for la in await repo.local_authorities()
        ],
    )
