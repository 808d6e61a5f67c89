"""All SQL of the analytics: daily series from the metric samples (issue #18)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, Time, cast, func, insert, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.analytics.forecast import PastAttendance
from app.clock import LONDON
from app.discharge.models import DischargePlan
from app.escalation.models import MetricSample
from app.occupancy.models import Encounter

ON_TIME = timedelta(hours=24)  # discharged within a day of the expected time: on time
# An expected date of discharge (the discharge team's) is a day: its afternoon, when most
# discharges happen (few are before noon: domain.md §4).
EDD_TIME = time(15)

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
        rows = await self.session.execute(
            _with_edd(select(e.discharged_at)).where(
                e.site_code == site, e.discharged_at >= since, e.discharged_at < until
            )
        )
        judged = [(gone, edd) for gone, *dates in rows if (edd := _edd(*dates)) and gone]
        good = sum(1 for gone, edd in judged if gone <= edd + ON_TIME)
        return good / len(judged) if judged else 0.0

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

    async def expected_discharges(
        self, site: str, *, now: datetime, before: datetime
    ) -> list[datetime]:
        """Inpatients now expected to leave before then: by the discharge team's expected date
        (the afternoon of it), else the PAS's PV2-9 — not those more than a day past it, who are
        delayed (no criteria to reside), not expected."""
        e = Encounter
        query = _with_edd(select()).where(e.site_code == site, e.status == "admitted")
        edds = [_edd(plan, pas) for plan, pas in await self.session.execute(query)]
        return [edd for edd in edds if edd is not None and now - ON_TIME <= edd < before]


def _with_edd(query: Select[Any]) -> Select[Any]:
    """The spell's two expected discharge times: the discharge team's date, the PAS's."""
    plan = DischargePlan
    columns = query.add_columns(plan.expected_discharge_date, Encounter.expected_discharge_at)
    return columns.select_from(Encounter).outerjoin(plan, plan.spell_id == Encounter.id)


def _edd(plan_date: str | None, pas: datetime | None) -> datetime | None:
    if plan_date:
        try:
            day = date.fromisoformat(plan_date)
        except ValueError:
            return pas
        return datetime.combine(day, EDD_TIME, tzinfo=LONDON)
    return pas
