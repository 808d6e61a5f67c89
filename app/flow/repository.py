"""All SQL of the flow engine: the raw facts of one site at one instant (app/flow/facts.py), and
what its incremental memory loads (app/flow/live.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    DateTime,
    String,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.ambulance.models import AmbulanceJourney
from app.changes import SPELL_COLUMNS
from app.clock import next_local_midnight
from app.db import any_param
from app.discharge.models import DischargePlan
from app.flow.facts import (
    ED_HORIZON,
    GA_CARE,
    NOT_NCTR,
    QUEUE_HORIZON,
    DischargeFacts,
    QueuedJourney,
    SiteFacts,
    by_area,
)
from app.flow.live import Journey, PlanFacts, SiteMemory, SpellFacts, UnitInfo
from app.occupancy.models import Encounter
from app.occupancy.repository import OccupancyRepository
from app.topology.models import Bed, Site, Unit


def _discharge_figures() -> CompoundSelect[Any]:
    """NCTR (the plans of patients with no criteria to reside, in G&A bed-master beds) and the
    count of expected discharges, for the sites in ``:sites`` — one statement (built once)."""
    e, p = Encounter, DischargePlan
    sites = any_param(e.site_code, "sites")
    nctr = (
        select(e.site_code.label("site"), literal("nctr").label("figure"),
               p.pathway.label("pathway"), p.delay_reason.label("reason"),
               p.local_authority.label("la"), p.discharge_ready_at.label("ready"),
               literal(1, BigInteger).label("n"))
        .join(e, e.id == p.spell_id)
        # The population of the denominator: patients in G&A bed-master beds.
        .join(Bed, Bed.id == e.bed_id)
        .join(Unit, Unit.id == Bed.unit_id)
        .where(sites, e.status == "admitted", Bed.kind.in_(("core", "escalation")),
               Unit.care == GA_CARE, p.status.not_in(NOT_NCTR),
               p.discharge_ready_at <= bindparam("now"))
    )  # fmt: skip
    # Spells planned to go home today, still in or already gone today: an expected date of
    # discharge of today (the discharge team's, else the PAS's PV2-9), or a pending discharge
    # (A16) notified for a spell still in.
    since = bindparam("since", type_=DateTime(timezone=True))
    in_or_gone_today = (e.status == "admitted") | (e.discharged_at >= since)
    planned = p.expected_discharge_date == bindparam("today", type_=String)
    pas_edd = (e.expected_discharge_at >= since) & (
        e.expected_discharge_at < bindparam("tomorrow", type_=DateTime(timezone=True))
    )
    pending = (e.status == "admitted") & e.pending_discharge
    expected = (
        select(e.site_code, literal("expected"), null(), null(), null(),
               null().cast(DateTime(timezone=True)), func.count())
        .select_from(e)
        .outerjoin(p, p.spell_id == e.id)
        .where(sites, in_or_gone_today,
               func.coalesce(planned, False)
               | (p.expected_discharge_date.is_(None) & pas_edd) | pending)
        .group_by(e.site_code)
    )  # fmt: skip
    return union_all(nctr, expected)


DISCHARGE_FIGURES = _discharge_figures()


class FlowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def acute_sites(self) -> Sequence[Site]:
        query = select(Site).where(Site.kind == "acute", Site.active).order_by(Site.code)
        return (await self.session.execute(query)).scalars().all()

    async def site_facts(
        self, site: str, *, now: datetime, midnight: datetime, today: date
    ) -> SiteFacts:
        query = select(Unit).where(Unit.site_code == site)
        units = list((await self.session.execute(query)).scalars())
        # G&A figures leave out critical care, maternity, paediatric units (domain.md §8).
        general = [u.id for u in units if u.care == GA_CARE]
        counts = await OccupancyRepository(self.session).unit_counts(general)
        totals: dict[str, int] = {}
        for unit_counts in counts.values():
            for key, value in unit_counts.items():
                totals[key] = totals.get(key, 0) + value
        waiting, stale = await self._ed_waiting(site, now=now)
        area_spaces: dict[str, int] = {}
        for unit in units:
            for area, spaces in (unit.areas or {}).items() if unit.kind == "ed" else ():
                area_spaces[area] = area_spaces.get(area, 0) + spaces
        discharge = (await self.discharge_facts([site], now=now, today=today, since=midnight))[site]
        return SiteFacts(
            unit_counts=totals,
            ed_spaces=sum(u.spaces for u in units if u.kind == "ed"),
            ed_waiting=[(a, d) for a, d, _ in waiting],
            ed_areas=by_area(area for _, _, area in waiting),
            ed_area_spaces=area_spaces,
            ed_stale=stale,
            ed_arrivals=await self._ed_arrivals(site, since=now - timedelta(hours=1)),
            ed_departures=await self._ed_departures(site, since=midnight),
            queue=await self._queue(site, now=now),
            en_route=await self._en_route(site, now=now),
            handovers=await self._handovers(site, since=midnight),
            nctr=discharge.nctr,
            discharged_today=await self._discharged(site, since=midnight),
            expected_today=discharge.expected_today,
        )

    async def discharge_facts(
        self, sites: Sequence[str], *, now: datetime, today: date, since: datetime
    ) -> dict[str, DischargeFacts]:
        """Per site, the figures that join discharge plans with spells and beds (the full
        recomputation the engine's memory is reconciled with): every site's in one statement."""
        params = {"sites": list(sites), "now": now, "today": today.isoformat(), "since": since,
                  "tomorrow": next_local_midnight(since)}  # fmt: skip
        nctr: dict[str, list[tuple[str | None, str | None, str | None, datetime]]] = {}
        expected: dict[str, int] = {}
        for row in await self.session.execute(DISCHARGE_FIGURES, params):
            if row.figure == "nctr" and row.ready is not None:
                nctr.setdefault(row.site, []).append((row.pathway, row.reason, row.la, row.ready))
            elif row.figure == "expected":
                expected[row.site] = int(row.n)
        return {site: DischargeFacts(nctr.get(site, []), expected.get(site, 0)) for site in sites}

    async def site_memory(self, site: str, *, now: datetime, midnight: datetime) -> SiteMemory:
        """What the incremental engine holds for a site (app/flow/live.py), read afresh: its
        units and their bed counts, the spells and journeys that can count in a figure."""
        units = {
            u.id: UnitInfo(u.id, u.kind, u.care, u.spaces, dict(u.areas or {}))
            for u in (
                await self.session.execute(select(Unit).where(Unit.site_code == site))
            ).scalars()
        }
        counts = await OccupancyRepository(self.session).unit_counts(sorted(units))
        e = Encounter
        # One read for both: the spells that can count in an ED figure, and the inpatients
        # (in a bed, or gone today) — told apart as the deltas are (SpellFacts).
        spells = select(*(getattr(e, c) for c in ("id", *SPELL_COLUMNS))).where(
            e.site_code == site,
            (e.status == "ed")
            | (e.status == "admitted")
            | (e.ed_arrived_at > now - timedelta(hours=1))
            | (e.ed_departed_at >= midnight)
            | (e.discharged_at >= midnight),
        )
        rows = [SpellFacts(*row) for row in await self.session.execute(spells)]
        hour_ago = now - timedelta(hours=1)
        j = AmbulanceJourney
        horizon = now - QUEUE_HORIZON
        journeys = select(j.incident_id, j.patient, j.vehicle, j.category, j.conveying_at,
                          j.arrived_at, j.handover_at, j.clear_at).where(
            j.destination_site == site,
            (j.arrived_at > horizon) | (j.conveying_at > horizon) | (j.handover_at >= midnight),
        )  # fmt: skip
        return SiteMemory(
            units=units,
            counts=counts,
            spells={s.id: s for s in rows if s.counts(hour_ago, midnight)},
            journeys=[Journey(*row) for row in await self.session.execute(journeys)],
            inpatients={s.id: s for s in rows if s.in_or_gone_today(midnight)},
        )

    async def ga_beds(self) -> frozenset[str]:
        """The economy's G&A bed-master beds (NCTR's population: domain.md §8)."""
        ga = (Bed.kind.in_(("core", "escalation")), Unit.care == GA_CARE)
        query = select(Bed.id).join(Unit, Unit.id == Bed.unit_id).where(*ga)
        return frozenset((await self.session.execute(query)).scalars())

    async def plans(self, *, midnight: datetime) -> dict[str, PlanFacts]:
        """The discharge plans the engine holds: of spells not ended before today (or not yet
        known)."""
        p, e = DischargePlan, Encounter
        query = (
            select(p.spell_id, p.status, p.pathway, p.delay_reason, p.local_authority,
                   p.discharge_ready_at, p.expected_discharge_date)
            .outerjoin(e, e.id == p.spell_id)
            .where(e.discharged_at.is_(None) | (e.discharged_at >= midnight))
        )  # fmt: skip
        return {row[0]: PlanFacts(*row[1:]) for row in await self.session.execute(query)}

    async def _ed_waiting(
        self, site: str, *, now: datetime
    ) -> tuple[list[tuple[datetime, datetime | None, str | None]], int]:
        """Patients in the department (arrival, decision to admit, area), and how many more are
        beyond the horizon (a lost A03: counted apart)."""
        query = select(
            Encounter.ed_arrived_at, Encounter.decision_to_admit_at, Encounter.ed_area
        ).where(
            Encounter.site_code == site,
            Encounter.status == "ed",
            Encounter.ed_arrived_at.is_not(None),
        )
        rows = [(a, d, area) for a, d, area in (await self.session.execute(query)).all() if a]
        current = [row for row in rows if row[0] > now - ED_HORIZON]
        return current, len(rows) - len(current)

    async def _ed_arrivals(self, site: str, *, since: datetime) -> Sequence[datetime]:
        query = select(Encounter.ed_arrived_at).where(
            Encounter.site_code == site, Encounter.ed_arrived_at > since
        )
        return [row for row in (await self.session.execute(query)).scalars() if row]

    async def _ed_departures(
        self, site: str, *, since: datetime
    ) -> Sequence[tuple[datetime, datetime]]:
        query = select(Encounter.ed_arrived_at, Encounter.ed_departed_at).where(
            Encounter.site_code == site,
            Encounter.ed_departed_at >= since,
            Encounter.ed_arrived_at.is_not(None),
        )
        return [(a, d) for a, d in (await self.session.execute(query)).all() if a and d]

    async def _queue(self, site: str, *, now: datetime) -> Sequence[QueuedJourney]:
        j = AmbulanceJourney
        query = (
            select(j.incident_id, j.vehicle, j.category, j.arrived_at)
            .where(
                j.destination_site == site,
                j.arrived_at > now - QUEUE_HORIZON,
                j.handover_at.is_(None),
                j.clear_at.is_(None),
            )
            .order_by(j.arrived_at, j.incident_id, j.patient)
        )
        return [QueuedJourney(*row) for row in await self.session.execute(query)]

    async def _en_route(self, site: str, *, now: datetime) -> int:
        query = select(func.count()).where(
            AmbulanceJourney.destination_site == site,
            AmbulanceJourney.conveying_at > now - QUEUE_HORIZON,
            AmbulanceJourney.arrived_at.is_(None),
            AmbulanceJourney.handover_at.is_(None),
            AmbulanceJourney.clear_at.is_(None),
        )
        return int((await self.session.execute(query)).scalar_one())

    async def _handovers(
        self, site: str, *, since: datetime
    ) -> Sequence[tuple[datetime, datetime, datetime | None]]:
        query = select(
            AmbulanceJourney.arrived_at, AmbulanceJourney.handover_at, AmbulanceJourney.clear_at
        ).where(
            AmbulanceJourney.destination_site == site,
            AmbulanceJourney.handover_at >= since,
            AmbulanceJourney.arrived_at.is_not(None),
        )
        rows = (await self.session.execute(query)).all()
        return [(a, h, c) for a, h, c in rows if a and h]

    async def _discharged(self, site: str, *, since: datetime) -> Sequence[datetime]:
        query = select(Encounter.discharged_at).where(
            Encounter.site_code == site,
            Encounter.discharged_at >= since,
            Encounter.admitted_at.is_not(None),
        )
        return [row for row in (await self.session.execute(query)).scalars() if row]
