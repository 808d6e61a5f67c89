"""Locations the bed master does not know (the bed team's exceptions list)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from app.auth.deps import CurrentUser
from app.deps import SessionDep
from app.errors import Forbidden
from app.occupancy.repository import OccupancyRepository
from app.occupancy.schemas import LocationCodeRead
from app.pagination import AfterId, PageSize

router = APIRouter(prefix="/api/v1", tags=["occupancy"])


class LocationExceptionRead(BaseModel):
    id: int
    site_code: str | None
    location_text: str
    trigger: str
    event_time: datetime
    detail: str
    seen_at: datetime


class LocationExceptionPage(BaseModel):
    items: list[LocationExceptionRead]
    next_cursor: int | None


class LocationCodeSummary(BaseModel):
    codes: list[LocationCodeRead]


@router.get(
    "/location-exceptions",
    summary="Locations not in the bed master, never silently dropped",
    responses={401: {"description": "Not authenticated"}, 403: {"description": "Not allowed"}},
)
async def location_exceptions(
    session: SessionDep,
    user: CurrentUser,
    after: AfterId = 0,
    limit: PageSize = 100,
) -> LocationExceptionPage:
    if not (user.sees_everything or user.sites):
        raise Forbidden(f"role {user.role} may not see location exceptions")
    rows = await OccupancyRepository(session).exceptions(after_id=after, limit=limit)
    visible = [r for r in rows if user.sees_everything or r.site_code in user.sites]
    items = [
        LocationExceptionRead(
            id=r.id,
            site_code=r.site_code,
            location_text=r.location_text,
            trigger=r.trigger,
            event_time=r.event_time,
            detail=r.detail,
            seen_at=r.seen_at,
        )
        for r in visible
    ]
    return LocationExceptionPage(
        items=items, next_cursor=rows[-1].id if len(rows) == limit else None
    )


@router.get(
    "/location-exceptions/summary",
    summary="Location exceptions grouped by the sender's code: map a feed by working down it",
    responses={401: {"description": "Not authenticated"}, 403: {"description": "Not allowed"}},
)
async def location_exception_summary(session: SessionDep, user: CurrentUser) -> LocationCodeSummary:
    if not (user.sees_everything or user.sites):
        raise Forbidden(f"role {user.role} may not see location exceptions")
    sites = None if user.sees_everything else user.sites
    return LocationCodeSummary(codes=await OccupancyRepository(session).exception_summary(sites))
