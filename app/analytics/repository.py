"""All SQL of the analytics: daily series from the metric samples (issue #18)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import Time, cast, func, insert, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.analytics.forecast import PastAttendance
from app.escalation.models import MetricSample
from app.occupancy.models import Encounter

ON_TIME = timedelta(hours=24)  # discharged within a day of the expected time: on time

ZONE = "Europe/London"  # a day is a local day (the board's "since midnight")


class ClosedSpell(Protocol):
    """An ED attendance of the past (app/simulation/history.py's PastAttendance)."""

    @property
    def site(self) -> str: ...
    @property
    def visit(self) -> str: ...
    @property
    def arrived(self) -> datetime: ...
    @property
    def departed(self) -> datetime: ...
    @property
    def decided(self) -> datetime | None: ...
    @property
    def admitted(self) -> bool: ...


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

    async def past_attendances(
        self, site: str, *, since: datetime, until: datetime
    ) -> list[PastAttendance]:
        """The site's ED attendances that arrived and left in the period (with their admission
        to a bed, if any, and the decision to admit)."""
        e = Encounter
        query = (
            select(e.ed_arrived_at, e.ed_departed_at, e.admitted_at, e.decision_to_admit_at)
            .where(e.site_code == site, e.ed_arrived_at >= since, e.ed_departed_at < until)
            .where(e.ed_departed_at >= e.ed_arrived_at)
        )
        past = []
        for arrived, departed, admitted, decided in await self.session.execute(query):
            if arrived is None or departed is None:
                continue
            took_bed = admitted if admitted is not None and admitted >= arrived else None
            decision = decided if decided is not None and decided >= arrived else None
            past.append(PastAttendance(arrived, departed, took_bed, decision))
        return past

    async def on_time_share(self, site: str, *, since: datetime, until: datetime) -> float:
        """Of the spells discharged in the period that had an expected discharge time, the share
        discharged within a day of it (0 with none: no discharge is counted on)."""
        e = Encounter
        on_time = func.count().filter(e.discharged_at <= e.expected_discharge_at + ON_TIME)
        query = select(func.count(), on_time).where(
            e.site_code == site, e.discharged_at >= since, e.discharged_at < until,
            e.expected_discharge_at.is_not(None),
        )  # fmt: skip
        total, good = (await self.session.execute(query)).one()
        return good / total if total else 0.0

    async def add_history(
        self, samples: Sequence[tuple[str, str, float, datetime]], spells: Sequence[ClosedSpell]
    ) -> None:
        """The demo's simulated past (app/simulation/history.py): samples, and ED attendances
        as closed spells without events (ids ``HIST:``)."""
        rows = [{"scope": s, "metric": m, "value": v, "at": at} for s, m, v, at in samples]
        for chunk in range(0, len(rows), 20_000):
            await self.session.execute(insert(MetricSample), rows[chunk : chunk + 20_000])
        encounters = [
            {
                "id": f"HIST:{spell.site}:{spell.visit}",
                "site_code": spell.site,
                "status": "discharged",
                "patient_class": "I" if spell.admitted else "E",
                "arrived_at": spell.arrived,
                "ed_arrived_at": spell.arrived,
                "ed_departed_at": spell.departed,
                "decision_to_admit_at": spell.decided,
                "admitted_at": spell.departed if spell.admitted else None,
                "discharged_at": None if spell.admitted else spell.departed,
                "event_count": 0,
            }
            for spell in spells
        ]
        for chunk in range(0, len(encounters), 10_000):
            await self.session.execute(insert(Encounter), encounters[chunk : chunk + 10_000])

    async def expected_discharges(self, site: str, *, before: datetime) -> list[datetime]:
        """Inpatients now with an expected discharge before then."""
        e = Encounter
        query = select(e.expected_discharge_at).where(
            e.site_code == site, e.status == "admitted",
            e.expected_discharge_at.is_not(None), e.expected_discharge_at < before,
        )  # fmt: skip
        return [at for (at,) in await self.session.execute(query) if at is not None]
