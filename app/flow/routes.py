"""Live flow metrics per site, metric time series, and (development only) the engine clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.deps import CurrentUser
from app.auth.schemas import Role
from app.catalogue import is_sampled
from app.clock import ManualClock, OffsetClock
from app.deps import SessionDep, SettingsDep, SiteCode
from app.errors import Forbidden, InvalidPayload, NotFound
from app.escalation.repository import EscalationRepository
from app.escalation.service import opel_view
from app.flow.deps import FlowDep
from app.flow.schemas import ClockAdvanceIn, ClockOut, MetricSamples, SamplePoint, SiteFlow

router = APIRouter(prefix="/api/v1", tags=["flow"])


@router.get(
    "/sites/{site_code}/flow",
    summary="A site's live metrics: beds, ED, ambulance queue, discharges, OPEL",
    responses={404: {"description": "No such acute site, or not visible to this role"}},
    response_model=SiteFlow,
)
async def site_flow(
    site_code: SiteCode, session: SessionDep, user: CurrentUser, flow: FlowDep
) -> SiteFlow:
    await asyncio.wait_for(flow.ready.wait(), timeout=30)  # the first evaluation after a start
    state = await EscalationRepository(session).state(site_code)
    view = flow.site_view(site_code, opel_view(state), flow.clock.now())
    if not user.may_see_site(site_code) or view is None:
        raise NotFound(f"no acute site {site_code} visible to this role")
    return view


@router.get(
    "/metric-samples",
    summary="A metric's time series (sampled every 5 min and on change)",
    response_model=MetricSamples,
)
async def metric_samples(
    session: SessionDep,
    user: CurrentUser,
    flow: FlowDep,
    scope: Annotated[str, Query(examples=["RAN01"])],
    metric: Annotated[str, Query(examples=["beds.occupancy_pct"])],
    since: Annotated[datetime | None, Query(description="Default: 24 hours ago")] = None,
    until: Annotated[datetime | None, Query(description="Default: now (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 2000,
) -> MetricSamples:
    if not user.may_see_scope(scope, flow.config.system_scope, flow.local_authorities):
        raise NotFound(f"no scope {scope} visible to this role")
    if not is_sampled(metric):
        raise InvalidPayload(f"no metric {metric!r} in the catalogue (app/catalogue.py)")
    since = since or flow.clock.now() - timedelta(hours=24)
    rows = await EscalationRepository(session).samples(
        scope, metric, since=since, until=until, limit=limit
    )
    return MetricSamples(
        scope=scope,
        metric=metric,
        points=[SamplePoint(at=row.at.isoformat(), value=row.value) for row in rows],
    )


@router.post(
    "/dev/clock",
    summary="Move the engine clock forward (FLOWCC_CLOCK=offset or fixed; never in production)",
    description="Returns once the engine has re-evaluated every view at the new time.",
    responses={404: {"description": "The engine runs on the system clock"}},
    response_model=ClockOut,
)
async def advance_clock(
    body: ClockAdvanceIn, user: CurrentUser, flow: FlowDep, settings: SettingsDep
) -> ClockOut:
    if not settings.development or not isinstance(flow.clock, OffsetClock | ManualClock):
        raise NotFound("the engine clock is the system clock here (set FLOWCC_CLOCK=offset)")
    if user.role != Role.ADMIN:
        raise Forbidden("only an administrator may move the engine clock")
    now = flow.clock.advance(timedelta(minutes=body.minutes))
    flow.touch(flow.sites)
    await asyncio.wait_for(flow.evaluated(), timeout=30)  # answer once the views show it
    offset = flow.clock.offset if isinstance(flow.clock, OffsetClock) else None
    return ClockOut(now=now.isoformat(), offset_seconds=offset and offset.total_seconds())
