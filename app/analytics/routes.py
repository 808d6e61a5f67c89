"""SPC charts of the metric samples (issue #18): Making Data Count, on daily series."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.analytics.directions import direction
from app.analytics.repository import AnalyticsRepository
from app.analytics.schemas import SpcChart, SpcPoint
from app.analytics.spc import xmr
from app.auth.deps import CurrentUser
from app.catalogue import is_sampled
from app.clock import local_midnight
from app.deps import RuntimeDep, SessionDep
from app.errors import InvalidPayload, NotFound

router = APIRouter(prefix="/api/v1", tags=["analytics"])
MIN_POINTS = 2  # a moving range needs two days; MDC advises 15–20 before limits mean much


@router.get(
    "/spc",
    summary="An XmR chart (Making Data Count) of a metric's daily series for a site or the system",
    description="Daily series only, never raw 5-minute samples (they are autocorrelated): the "
    "value at a fixed time each day (`slot`, default 08:00) or the daily mean. Days are local "
    "(Europe/London) and end yesterday: today is not over.",
    responses={404: {"description": "No such scope visible to this role"}},
    response_model=SpcChart,
)
async def spc(
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    scope: Annotated[str, Query(examples=["RAN01"], max_length=32)],
    metric: Annotated[str, Query(examples=["beds.occupancy_pct"], max_length=80)],
    series: Annotated[Literal["slot", "mean"], Query()] = "slot",
    slot: Annotated[time, Query(description="With series=slot: the time of day")] = time(8),
    days: Annotated[int, Query(ge=MIN_POINTS, le=730)] = 56,
    fix_after: Annotated[int | None, Query(ge=2, description="Limits from N days")] = None,
    rebase: Annotated[list[date] | None, Query(description="Days new limits start")] = None,
    target: Annotated[float | None, Query(description="For the assurance icon")] = None,
) -> SpcChart:
    if not user.may_see_scope(scope, runtime.system_scope, runtime.local_authorities):
        raise NotFound(f"no scope {scope} visible to this role")
    if not is_sampled(metric):
        raise InvalidPayload(f"no metric {metric!r} in the catalogue (app/catalogue.py)")
    until = local_midnight(runtime.clock.now())
    since = local_midnight(until - timedelta(days=days) + timedelta(hours=12))
    repo = AnalyticsRepository(session)
    if series == "slot":
        rows = await repo.at_slot(scope, metric, slot=slot, since=since, until=until)
        label = f"{slot.strftime('%H:%M')} each day"
    else:
        rows = await repo.daily_mean(scope, metric, since=since, until=until)
        label = "daily mean"
    starts = [i for i, (day, _) in enumerate(rows) if day in set(rebase or [])]
    chart = xmr([v for _, v in rows], direction(metric), fix_after=fix_after, rebase_at=starts)
    return SpcChart(
        scope=scope, metric=metric, series=label, direction=chart.direction,
        variation=chart.variation, assurance=chart.assurance(target), target=target,
        points=[
            SpcPoint(day=day.isoformat(), value=p.value, mean=p.mean, lower=p.lower,
                     upper=p.upper, type=p.type, segment=p.segment)
            for (day, _), p in zip(rows, chart.points, strict=True)
        ],
    )  # fmt: skip
