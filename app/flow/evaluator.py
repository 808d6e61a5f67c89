"""The evaluator (what was called the flow engine; ADR 0003): keeps the derived views live. It
re-evaluates a site when an event for it commits or when time alone crosses one of its thresholds
— its metrics (app/flow/metrics.py), OPEL with hysteresis and the system roll-up, the discharge
and care-home lists — samples every metric into ``metric_samples``, and publishes what changed to
the board after its commit. (The ADT fold is app/occupancy/fold.py; SQLAlchemy's engine is the
database connection pool: neither is this.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from prometheus_client import Counter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.carehomes.service import carehomes_view
from app.catalogue import (
    CADENCE_METRIC,
    SiteMetrics,
    numbers,
)
from app.changes import ALL_SITES, CAREHOMES, ENGINE_VIEW, Delta
from app.changes import touch as touch_delta
from app.clock import Clock, local_midnight
from app.discharge.service import discharges_view
from app.escalation.models import OpelState
from app.escalation.profile import OpelProfile
from app.escalation.repository import EscalationRepository
from app.escalation.schemas import OpelView
from app.escalation.scoring import assess, roll_up
from app.escalation.service import apply_assessment, opel_view
from app.flow.keeper import FactsKeeper
from app.flow.metrics import compute_site
from app.flow.repository import FlowRepository
from app.flow.sampling import Sampling, record
from app.flow.schemas import SiteFlow
from app.logging import get_logger
from app.topology.repository import TopologyRepository

if TYPE_CHECKING:
    from pydantic.main import IncEx

log = get_logger(__name__)
LIST_READS = Counter(
    "flowcc_engine_discharge_list_reads_total", "Local authorities' discharge lists read"
)
Publish = Callable[[list[Delta]], Awaitable[None]]
MAX_IDLE_SECONDS = 1.0  # an offset clock may be moved: look at least this often


@dataclass
class EvaluatorConfig:
    profile: OpelProfile
    system_scope: str  # the economy code: the scope of the system OPEL
    hours_lost_after: float = 30.0
    sample_every: timedelta = timedelta(minutes=5)
    ref_key: str = "flowcc"  # keys the opaque references of people on the discharge views
    reconcile_every: timedelta = timedelta(minutes=1)  # memory against the database
    reconcile_grace: float = 0.5  # seconds before a difference is looked at again


@dataclass
class _Published:
    metrics: dict[str, SiteMetrics] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    due: dict[str, datetime | None] = field(default_factory=dict)


class Evaluator:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        publish: Publish,
        clock: Clock,
        config: EvaluatorConfig,
    ) -> None:
        self.sessionmaker, self.publish, self.clock, self.config = (
            sessionmaker,
            publish,
            clock,
            config,
        )
        self.sites: dict[str, float] = {}  # acute site → OPEL roll-up weight
        self.local_authorities: list[str] = []  # each has a discharges:<la> view
        self.state = _Published()
        self.dirty: set[str] = set()
        self.sampled_at: datetime | None = None
        self._sampled_here = False  # this process has taken a sample on the cadence
        self._wake = asyncio.Event()
        self._stopping = False
        self.ready = asyncio.Event()
        self._begun = self._finished = 0  # evaluations begun / finished (run_once)
        # With several API processes (ADR 0005): only the leader writes OPEL state and samples;
        # `remote` tells the other processes' engines what changed.
        self.is_leader: Callable[[], bool] = lambda: True
        self.remote: Publish | None = None
        self._progress = asyncio.Condition()
        self.keeper = FactsKeeper()  # the sites' facts in memory (issue #17, lever 3)
        self._maybe_planned: set[str] = set()  # spells changed since the last evaluation
        self.reconciled_at: datetime | None = None

    # ------------------------------------------------------------------ inputs

    async def committed(self, deltas: list[Delta]) -> None:
        """Subscribed to committed changes (beside the board's hub): spells and bed counts
        update the memory (app/flow/keeper.py); a touch has the site re-read."""
        now = self.clock.now()
        touched, moved = self.keeper.apply(deltas, now, local_midnight(now))
        if touched:
            self.touch(touched)
        if moved:
            self.mark(moved, discharges=False)
        # A spell moves a discharge list only if it has a discharge plan: looked up (one
        # statement) at the evaluation, rather than every authority's list re-read per batch.
        spells = {d.key for d in deltas if d.view == ENGINE_VIEW and d.kind == "spell"}
        if spells:
            self._maybe_planned |= spells
            self._wake.set()

    @property
    def system_scope(self) -> str:
        return self.config.system_scope

    @property
    def ref_key(self) -> str:
        return self.config.ref_key

    @property
    def profile(self) -> OpelProfile:
        return self.config.profile

    async def changed(self, sites: list[str]) -> None:
        """Something committed outside the consumers (a declared level): re-evaluate here and
        in every other process."""
        self.touch(sites)
        if self.remote is not None:
            await self.remote([touch_delta(site) for site in sites])

    def touch(self, sites: Iterable[str]) -> None:
        """Re-read these sites (their memory may be out of date) and re-evaluate them."""
        sites = list(sites)
        everything = ALL_SITES in sites  # (a discharge plan's writer touches every site)
        self.keeper.live.forget(
            (s for s in self.sites if everything or s in sites), plans=everything
        )
        self.mark(sites)

    def mark(self, sites: Iterable[str], *, discharges: bool = True) -> None:
        """Re-evaluate these sites (and, unless told otherwise, the discharge views)."""
        for site in sites:
            if site == ALL_SITES:
                self.dirty |= set(self.sites)
            elif site in self.sites:
                self.dirty.add(site)
            if discharges:  # an ambulance, discharge or care-home change may move someone
                self.dirty |= {_discharges(la) for la in self.local_authorities}
            if site == CAREHOMES:
                self.dirty |= {_carehomes(la) for la in self.local_authorities}
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def start(self) -> None:
        async with self.sessionmaker() as session:
            sites = await FlowRepository(session).acute_sites()
            las = await TopologyRepository(session).local_authorities()
            # A restart keeps the 5-minute cadence: the next sample is due after the last one.
            self.sampled_at = await EscalationRepository(session).last_sample_at(
                self.config.system_scope, CADENCE_METRIC
            )
        self.sites = {site.code: site.opel_weight for site in sites}
        self.keeper.reset(self.sites)  # each site read at its first evaluation
        self.local_authorities = [la.code for la in las]
        views = {v(la) for la in self.local_authorities for v in (_discharges, _carehomes)}
        await self.refresh(set(self.sites) | views)
        self.ready.set()

    def stop(self) -> None:
        """Finish the evaluation in progress, then return from run(). (Cancelling a task in the
        middle of an asyncpg query can leave its connection unusable and the pool waiting.)"""
        self._stopping = True
        self._wake.set()

    async def reload_topology(self) -> None:
        """The economy changed: re-read the sites and authorities, re-evaluate everything."""
        await self.start()

    async def run(self) -> None:
        await self.start()
        while not self._stopping:
            timeout = self._seconds_to_next_due()
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if not self._stopping:
                await self.run_once()

    async def run_once(self) -> bool:
        """Re-evaluate whatever is due now (touched sites, crossed thresholds, a pending OPEL
        drop, the 5-minute sample). Returns whether anything was evaluated."""
        self._begun += 1
        number = self._begun
        try:
            now = self.clock.now()
            if self._reconcile_due(now):
                await self.reconcile()
            due = self.dirty | {s for s, at in self.state.due.items() if at and at <= now}
            self.dirty = set()
            if self._sample_due(now):
                due |= set(self.sites)  # a sample is of every site as of now
            elif not due and not self._maybe_planned:
                return False
            await self.refresh(due)
            return True
        finally:
            async with self._progress:
                self._finished = number
                self._progress.notify_all()

    async def evaluated(self) -> None:
        """Return once an evaluation that began after this call has finished: everything
        touched and committed before the call is reflected in the views (read-your-writes)."""
        target = self._begun + 1
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._finished >= target)

    async def reconcile(self) -> int:
        """Compare every site's facts in memory with a full recomputation from the database;
        log, count and re-read any that differ (app/flow/keeper.py). Returns how many did."""
        self.reconciled_at = self.clock.now()
        found = await self.keeper.reconcile(
            self.sessionmaker, set(self.sites), self.clock, self.config.reconcile_grace
        )
        self.mark(found)
        return len(found)

    def _seconds_to_next_due(self) -> float:
        if self.dirty or self._maybe_planned:
            return 0.0
        now = self.clock.now()
        upcoming = [at for at in self.state.due.values() if at is not None]
        if self.sampled_at is not None:
            upcoming.append(self.sampled_at + self.config.sample_every)
        if self.reconciled_at is not None:
            upcoming.append(self.reconciled_at + self.config.reconcile_every)
        soonest = min(upcoming, default=now + timedelta(seconds=MAX_IDLE_SECONDS))
        return max(0.0, min(MAX_IDLE_SECONDS, (soonest - now).total_seconds()))

    def _reconcile_due(self, now: datetime) -> bool:
        at = self.reconciled_at
        return at is None or now - at >= self.config.reconcile_every

    def _sample_due(self, now: datetime) -> bool:
        return self.sampled_at is None or now - self.sampled_at >= self.config.sample_every

    # ------------------------------------------------------------------ one evaluation

    async def refresh(self, keys: set[str]) -> None:
        """Re-evaluate these sites and discharge views (and the system level) in one
        transaction, then publish what changed."""
        now = self.clock.now()
        sites = keys & set(self.sites)
        lead = self.is_leader()
        async with self.sessionmaker() as session, session.begin():
            await self.keeper.read(FlowRepository(session), sites, now, local_midnight(now))
            if self._maybe_planned:
                spells, self._maybe_planned = self._maybe_planned, set()
                if self.keeper.live.planned(spells):
                    keys = keys | {_discharges(la) for la in self.local_authorities}
            views = await self._discharge_views(session, keys, now)
            escalation = EscalationRepository(session)
            # Every scope's OPEL state in one read; the leader writes them, so locks them.
            states = await escalation.states(lock=lead)
            changed_levels = await self._evaluate_sites(
                session, escalation, states, sites, now, lead
            )
            if lead and self._evaluate_system(escalation, states, now):
                changed_levels.add(self.config.system_scope)
            opel = {scope: opel_view(state) for scope, state in states.items()}
            sample_all = self._sample_due(now)
            if lead:
                await record(
                    session,
                    escalation,
                    Sampling(self.state.metrics, self.sites, self.local_authorities,
                             self.config.system_scope, sampled_here=self._sampled_here),
                    changed_levels, opel, now, sample_all,
                )  # fmt: skip
            if sample_all:
                self.sampled_at, self._sampled_here = now, lead
        await self.publish(self._deltas(now, opel) + views)
        if changed_levels and self.remote is not None:  # the followers re-read the levels
            await self.remote([touch_delta(ALL_SITES)])

    async def _discharge_views(
        self, session: AsyncSession, keys: set[str], now: datetime
    ) -> list[Delta]:
        deltas = []
        for la in self.local_authorities:
            view = _discharges(la)
            if view not in keys:
                continue
            LIST_READS.inc()
            data, self.state.due[view] = await discharges_view(
                session, la, now=now, ref_key=self.config.ref_key
            )
            if self._changed(view, data):
                deltas.append(Delta(view, "discharges", la, data.model_dump(mode="json")))
            homes = _carehomes(la)
            if homes in keys:
                vacancies = await carehomes_view(session, la, now=now)
                if self._changed(homes, vacancies):
                    deltas.append(Delta(homes, "carehomes", la, vacancies.model_dump(mode="json")))
        return deltas

    async def _evaluate_sites(
        self,
        session: AsyncSession,
        escalation: EscalationRepository,
        states: dict[str, OpelState],
        sites: set[str],
        now: datetime,
        lead: bool,
    ) -> set[str]:
        flow, changed = FlowRepository(session), set()
        midnight = local_midnight(now)
        for site, facts in (await self.keeper.facts(flow, sites, now, midnight)).items():
            computed = compute_site(
                facts, now=now, midnight=midnight, hours_lost_after=self.config.hours_lost_after
            )
            self.state.metrics[site] = computed.metrics
            self.state.due[site] = computed.next_change_at
            if not lead:
                continue  # the leader assesses and writes the level; this process reads it
            assessment = assess(self.config.profile, numbers(computed.metrics))
            moved, drop_at = apply_assessment(
                escalation, states, self.config.profile, site, assessment, now
            )
            if moved:
                changed.add(site)
            if drop_at is not None and (computed.next_change_at or drop_at) >= drop_at:
                self.state.due[site] = drop_at
        return changed

    def _evaluate_system(
        self, escalation: EscalationRepository, states: dict[str, OpelState], now: datetime
    ) -> bool:
        scores = [
            (site, states[site].score if site in states else None, weight)
            for site, weight in sorted(self.sites.items())
        ]
        assessment = roll_up(self.config.profile, scores)
        scope = self.config.system_scope
        moved, drop_at = apply_assessment(
            escalation, states, self.config.profile, scope, assessment, now
        )
        self.state.due[scope] = drop_at
        return moved

    # ------------------------------------------------------------------ outputs

    def _deltas(self, now: datetime, opel: dict[str, OpelView | None]) -> list[Delta]:
        """A site's metrics go to its board (the board adds the system summary: app/board)."""
        deltas = []
        for site in sorted(self.sites):
            view = self.site_view(site, opel.get(site), now)
            if view is not None and self._changed(site, view):
                deltas.append(Delta(f"site:{site}", "metrics", site, view.model_dump(mode="json")))
        system = opel.get(self.config.system_scope)
        if system is not None and self._changed("system", system):
            deltas.append(Delta("system", "system_opel", "system", system.model_dump(mode="json")))
        return deltas

    def site_view(self, site: str, opel: OpelView | None, as_of: datetime) -> SiteFlow | None:
        """The site's latest metrics with its OPEL (None before its first evaluation)."""
        metrics = self.state.metrics.get(site)
        if metrics is None:
            return None
        return SiteFlow(**dict(metrics), as_of=as_of.isoformat(), opel=opel)

    def _changed(self, key: str, view: BaseModel) -> bool:
        """Compare without the instant of computation, so a no-op re-evaluation stays silent."""
        fingerprint = view.model_dump_json(exclude=_INSTANTS)
        if self.state.fingerprints.get(key) == fingerprint:
            return False
        self.state.fingerprints[key] = fingerprint
        return True


# When a view was computed is not a change of it.
_INSTANTS = cast(
    "IncEx", {"as_of": True, "now": True, "computed_at": True, "opel": {"computed_at": True}}
)


def _discharges(la: str) -> str:
    return f"discharges:{la}"


def _carehomes(la: str) -> str:
    return f"carehomes:{la}"
