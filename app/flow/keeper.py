"""Keeps the engine's memory of each site (app/flow/live.py) in step with the database (issue #17,
lever 3; ADR 0009).

- Committed changes update it: a spell as committed (the projector's ``spell`` deltas), a unit's
  bed counts (its ``unit`` deltas). A ``touch`` (any other writer: ambulance, discharge and
  care-home events, the declared level, a rebuild or reset, the economy reloaded) marks the
  site to be re-read before its next evaluation; a touch of every site (the discharge writer's)
  has the discharge plans and the G&A beds read again too.
- A re-read takes four statements for the site (its units, their bed counts, its spells that can
  count in an ED figure or are inpatients, its ambulance journeys), two for the plans and beds.
  Changes that arrive while it reads are applied again after it: a change committed after the
  read began must not be lost under the older rows.
- Reconciliation, every ``reconcile_every`` and on demand: each site's facts from memory are
  compared with a full recomputation from the database. A difference is logged
  (``engine_drift``) and counted (``flowcc_engine_drift_total``), and the site re-read; a
  difference seen while changes for the site are still arriving is checked again after a grace,
  so a change committed but not yet delivered is not taken for drift. In tests it must be zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date, datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.changes import ENGINE_VIEW, WAS_DISCHARGED, Delta
from app.clock import LONDON, Clock, local_midnight
from app.flow.facts import SiteFacts
from app.flow.live import LiveFacts, SpellFacts, same
from app.flow.repository import FlowRepository
from app.logging import get_logger

log = get_logger(__name__)
DRIFT = Counter(
    "flowcc_engine_drift_total",
    "Sites whose facts in memory differed from a full recomputation (then re-read)",
    ["site"],
)
RELOADS = Counter("flowcc_engine_site_reads_total", "Sites re-read into the engine's memory")


class FactsKeeper:
    def __init__(self) -> None:
        self.live = LiveFacts()
        self._loading: list[Delta] | None = None
        self.version: dict[str, int] = {}  # per site: changes applied (reconciliation's check)

    def reset(self, sites: Iterable[str]) -> None:
        """Start afresh: every site is read at its next evaluation."""
        self.live = LiveFacts(stale=set(sites))

    def apply(
        self, deltas: list[Delta], now: datetime, midnight: datetime
    ) -> tuple[set[str], set[str]]:
        """Committed changes into memory. Returns the sites touched (to be re-read) and the
        sites whose facts may have moved."""
        if self._loading is not None:  # a re-read is in progress: apply these again after it
            self._loading.extend(deltas)
        touched: set[str] = set()
        moved: set[str] = set()
        for delta in deltas:
            if delta.view == ENGINE_VIEW and delta.kind == "spell":
                data = delta.data
                spell = None if data.get("gone") else SpellFacts.from_json(delta.key, data)
                was = data.get(WAS_DISCHARGED)
                moved |= self.live.apply_spell(
                    spell, delta.key, now, midnight,
                    datetime.fromisoformat(was) if isinstance(was, str) else None,
                )  # fmt: skip
            elif delta.view == ENGINE_VIEW:
                touched.add(delta.key)
            elif delta.kind == "unit" and delta.view.startswith("site:"):
                counts = {k: v for k, v in delta.data.items() if isinstance(v, int)}
                site = self.live.apply_units(delta.key, counts)
                moved |= {site} if site else set()
        for site in moved:
            self.version[site] = self.version.get(site, 0) + 1
        return touched, moved

    async def read(
        self, flow: FlowRepository, sites: Iterable[str], now: datetime, midnight: datetime
    ) -> None:
        """Re-read what needs it: the plans if stale, the sites stale or never read."""
        wanted = sorted(s for s in sites if s in self.live.stale or s not in self.live.sites)
        if not wanted and not self.live.plans_stale:
            return
        self._loading = []
        try:
            if self.live.plans_stale:
                await self._read_plans(flow, midnight)
            for site in wanted:
                self.live.load(site, await flow.site_memory(site, now=now, midnight=midnight))
                RELOADS.inc()
        finally:
            again, self._loading = self._loading, None
        self.apply(again, now, midnight)

    async def _read_plans(self, flow: FlowRepository, midnight: datetime) -> None:
        self.live.plans_stale = False  # (a touch while reading marks them again)
        try:
            self.live.plans = await flow.plans(midnight=midnight)
            self.live.ga_beds = await flow.ga_beds()
        except BaseException:
            self.live.plans_stale = True
            raise

    async def facts(
        self, flow: FlowRepository, sites: Iterable[str], now: datetime, midnight: datetime
    ) -> dict[str, SiteFacts]:
        """Each site's facts: from memory (re-read first where stale)."""
        wanted = sorted(sites)
        await self.read(flow, wanted, now, midnight)
        return {site: self.live.facts(site, now, midnight) for site in wanted}

    async def differing(
        self, flow: FlowRepository, sites: Iterable[str], now: datetime, midnight: datetime,
        today: date,
    ) -> dict[str, list[str]]:  # fmt: skip
        """Per site, the facts in which memory and a full recomputation differ (a site whose
        changes arrived during the comparison is left for the next round)."""
        await self.read(flow, sites, now, midnight)
        found: dict[str, list[str]] = {}
        for site in sorted(sites):
            before = self.version.get(site, 0)
            truth = await flow.site_facts(site, now=now, midnight=midnight, today=today)
            fields = same(self.live.facts(site, now, midnight), truth)
            if fields and self.version.get(site, 0) == before:
                found[site] = fields
        return found

    async def reconcile(
        self, sessionmaker: async_sessionmaker[AsyncSession], sites: set[str], clock: Clock,
        grace: float,
    ) -> set[str]:  # fmt: skip
        """Memory against the database for every site; returns the sites that drifted (logged,
        counted and to be re-read). A difference is looked at again after ``grace`` seconds: a
        change committed but not yet delivered is not drift."""
        now = clock.now()
        found = await self._differing(sessionmaker, sites, now)
        if found and grace > 0:
            await asyncio.sleep(grace)
        if found:
            again = await self._differing(sessionmaker, set(found), clock.now())
            found = {site: fields for site, fields in again.items() if site in found}
        for site, fields in sorted(found.items()):
            DRIFT.labels(site).inc()
            log.warning("engine_drift", site=site, facts=fields)
        self.live.forget(found, plans=bool(found))
        self.live.prune(now, local_midnight(now))
        return set(found)

    async def _differing(
        self, sessionmaker: async_sessionmaker[AsyncSession], sites: set[str], now: datetime
    ) -> dict[str, list[str]]:
        midnight, today = local_midnight(now), now.astimezone(LONDON).date()
        async with sessionmaker() as session, session.begin():
            return await self.differing(FlowRepository(session), sites, now, midnight, today)
