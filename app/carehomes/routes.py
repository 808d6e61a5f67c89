"""Care homes and their latest vacancies (Capacity Tracker style), with report age and staleness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.deps import CurrentUser
from app.auth.schemas import Role
from app.carehomes.repository import CareHomeRepository
from app.carehomes.schemas import CareHomesOut
from app.carehomes.service import homes_summary
from app.deps import RuntimeDep, SessionDep
from app.errors import Forbidden, NotFound
from app.fields import Code
from app.topology.repository import TopologyRepository

router = APIRouter(prefix="/api/v1", tags=["care homes"])
BedType = Annotated[
    str | None,
    Query(pattern=r"^[a-z_]{1,40}$", examples=["nursing"], description="Only homes with this type"),
]


@router.get(
    "/care-homes",
    summary="Care homes with their latest vacancies, report age and stale flag",
    response_model=CareHomesOut,
)
async def care_homes(
    session: SessionDep,
    user: CurrentUser,
    flow: RuntimeDep,
    local_authority: Annotated[Code | None, Query(examples=["E06000901"])] = None,
    bed_type: BedType = None,
    admittable_only: Annotated[bool, Query(description="Only homes open with a vacancy")] = False,
) -> CareHomesOut:
    if user.role == Role.INTEGRATION_INGEST:
        raise Forbidden("an ingest integration may not read care-home capacity")
    las = [la.code for la in await TopologyRepository(session).local_authorities()]
    if local_authority is not None and local_authority not in las:
        raise NotFound(f"no local authority {local_authority}")
    visible = [la for la in las if user.role == Role.SITE_MANAGER or user.may_see_authority(la)]
    wanted = [la for la in visible if local_authority in (None, la)]
    if local_authority is not None and not wanted:
        raise NotFound(f"no local authority {local_authority} visible to this role")
    now = flow.clock.now()
    homes = homes_summary(await CareHomeRepository(session).vacancies(wanted), now)
    if bed_type is not None:
        homes = [h for h in homes if bed_type in h.admittable]
    if admittable_only:
        homes = [h for h in homes if h.open and any(h.admittable.values())]
    return CareHomesOut(as_of=now.isoformat(), items=homes)
