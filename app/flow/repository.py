"""All SQL of the flow engine: the raw facts of one site at one instant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ambulance.models import AmbulanceJourney
from app.clock import next_local_midnight
from app.discharge.models import DischargePlan
from app.occupancy.models import Encounter
from app.occupancy.repository import OccupancyRepository
from app.topology.models import Bed, Site, Unit

# A vehicle still "waiting" a day after arrival is a lost handover message, not a queue.
QUEUE_HORIZON = timedelta(hours=24)
# A patient "in ED" two days after arrival is a lost discharge or admission message: counted
# apart (in_department_stale), never in the department's figures.
ED_HORIZON = timedelta(hours=48)
NOT_NCTR = ("not_ready", "discharged", "cancelled")
GA_CARE = "general_and_acute"


@dataclass(frozen=True)
class SiteFacts:
    unit_counts: dict[str, int]
    ed_spaces: int
    ed_waiting: Sequence[tuple[datetime, datetime | None]]  # (arrival, decision to admit)
    ed_areas: dict[str, int]  # patients in ED by area (resus, majors, ...)
    ed_area_spaces: dict[str, int]
    ed_stale: int
    ed_arrivals: Sequence[datetime]  # arrivals within the last hour
    ed_departures: Sequence[tuple[datetime, datetime]]  # (arrival, departure) since midnight
    queue: Sequence[AmbulanceJourney]
    en_route: int
    handovers: Sequence[tuple[datetime, datetime, datetime | None]]  # arrived, handover, clear
    nctr: Sequence[tuple[str | None, str | None, str | None, datetime]]  # pathway, reason, LA
    discharged_today: Sequence[datetime]
    expected_today: int


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
        return SiteFacts(
            unit_counts=totals,
            ed_spaces=sum(u.spaces for u in units if u.kind == "ed"),
            ed_waiting=[(a, d) for a, d, _ in waiting],
            ed_areas=_by_area(area for _, _, area in waiting),
            ed_area_spaces=area_spaces,
            ed_stale=stale,
            ed_arrivals=await self._ed_arrivals(site, since=now - timedelta(hours=1)),
            ed_departures=await self._ed_departures(site, since=midnight),
            queue=await self._queue(site, now=now),
            en_route=await self._en_route(site, now=now),
            handovers=await self._handovers(site, since=midnight),
            nctr=await self._nctr(site, now=now),
            discharged_today=await self._discharged(site, since=midnight),
            expected_today=await self._expected(site, today=today, since=midnight),
        )

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

    async def _queue(self, site: str, *, now: datetime) -> Sequence[AmbulanceJourney]:
        query = (
            select(AmbulanceJourney)
            .where(
                AmbulanceJourney.destination_site == site,
                AmbulanceJourney.arrived_at > now - QUEUE_HORIZON,
                AmbulanceJourney.handover_at.is_(None),
                AmbulanceJourney.clear_at.is_(None),
            )
            .order_by(AmbulanceJourney.arrived_at, AmbulanceJourney.incident_id)
        )
        return (await self.session.execute(query)).scalars().all()

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

    async def _nctr(
        self, site: str, *, now: datetime
    ) -> Sequence[tuple[str | None, str | None, str | None, datetime]]:
        query = (
            select(
                DischargePlan.pathway,
                DischargePlan.delay_reason,
                DischargePlan.local_authority,
                DischargePlan.discharge_ready_at,
            )
            .join(Encounter, Encounter.id == DischargePlan.spell_id)
            # The population of the denominator: patients in G&A bed-master beds.
            .join(Bed, Bed.id == Encounter.bed_id)
            .join(Unit, Unit.id == Bed.unit_id)
            .where(
                Encounter.site_code == site,
                Encounter.status == "admitted",
                Bed.kind.in_(("core", "escalation")),
                Unit.care == GA_CARE,
                DischargePlan.status.not_in(NOT_NCTR),
                DischargePlan.discharge_ready_at <= now,
            )
        )
        rows = (await self.session.execute(query)).all()
        return [(p, r, la, ready) for p, r, la, ready in rows if ready]

    async def _discharged(self, site: str, *, since: datetime) -> Sequence[datetime]:
        query = select(Encounter.discharged_at).where(
            Encounter.site_code == site,
            Encounter.discharged_at >= since,
            Encounter.admitted_at.is_not(None),
        )
        return [row for row in (await self.session.execute(query)).scalars() if row]

    async def _expected(self, site: str, *, today: date, since: datetime) -> int:
        """Spells planned to go home today, still in or already gone today: an expected date of
        discharge of today (the discharge team's, else the PAS's PV2-9), or a pending discharge
        (A16) notified for a spell still in."""
        in_or_gone_today = (Encounter.status == "admitted") | (Encounter.discharged_at >= since)
        tomorrow = next_local_midnight(since)
        planned = DischargePlan.expected_discharge_date == today.isoformat()
        pas_edd = (Encounter.expected_discharge_at >= since) & (
            Encounter.expected_discharge_at < tomorrow
        )
        pending = (Encounter.status == "admitted") & Encounter.pending_discharge
        query = (
            select(func.count())
            .select_from(Encounter)
            .outerjoin(DischargePlan, DischargePlan.spell_id == Encounter.id)
            .where(
                Encounter.site_code == site,
                in_or_gone_today,
                func.coalesce(planned, False)
                | (DischargePlan.expected_discharge_date.is_(None) & pas_edd)
                | pending,
            )
        )
        return int((await self.session.execute(query)).scalar_one())


AREA_NAMES = (("resus", "resus"), ("res", "resus"), ("maj", "majors"), ("min", "minors"),
              ("sdec", "sdec"), ("utc", "utc"), ("urgent", "utc"), ("paed", "paediatrics"),
              ("triage", "triage"), ("rat", "triage"))  # fmt: skip


def ed_area(text: str | None) -> str:
    """A sender's ED area code as the economy names areas: RES/RESUS → resus, MAJ or
    "05-NON COVID MAJORS" → majors, MIN → minors, RAT/TRIAGE → triage ..."""
    if not text:
        return "unknown"
    lowered = text.lower()
    for word in lowered.replace("-", " ").split():
        for prefix, name in AREA_NAMES:
            if word.startswith(prefix):
                return name
    return lowered[:40]


def _by_area(areas: Iterable[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for area in areas:
        name = ed_area(area)
        counts[name] = counts.get(name, 0) + 1
    return counts
