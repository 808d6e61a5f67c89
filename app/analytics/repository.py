"""All SQL of the analytics: daily series from the metric samples (issue #18)."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Time, cast, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.escalation.models import MetricSample

ZONE = "Europe/London"  # a day is a local day (the board's "since midnight")


class AnalyticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def at_slot(
        self, scope: str, metric: str, *, slot: time, since: datetime, until: datetime
    ) -> list[tuple[date, float]]:
        """Each local day's value at a fixed time: the latest sample at or before ``slot``
        that day (08:00 occupancy: what the morning huddle saw)."""
        local = func.timezone(ZONE, MetricSample.at)
        day = func.date(local)
        query = (
            select(day, MetricSample.value)
            .ext(distinct_on(day))
            .where(MetricSample.scope == scope, MetricSample.metric == metric)
            .where(MetricSample.at >= since, MetricSample.at < until)
            .where(cast(local, Time) <= slot)
            .order_by(day, MetricSample.at.desc())
        )
        return [(row[0], row[1]) for row in await self.session.execute(query)]

    async def daily_mean(
        self, scope: str, metric: str, *, since: datetime, until: datetime
    ) -> list[tuple[date, float]]:
        """Each whole local day's mean of the metric's samples."""
        day = func.date(func.timezone(ZONE, MetricSample.at))
        query = (
            select(day, func.avg(MetricSample.value))
            .where(MetricSample.scope == scope, MetricSample.metric == metric)
            .where(MetricSample.at >= since, MetricSample.at < until)
            .group_by(day)
            .order_by(day)
        )
        return [(row[0], float(row[1])) for row in await self.session.execute(query)]
