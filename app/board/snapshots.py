"""Whole-view snapshots, read from PostgreSQL (the truth), for a (re)subscribing client.

Clients asking for the same view at the same moment share one build (``SnapshotBuilds``): when
every wall screen reconnects at once after a deploy, a view is read and encoded once per round,
not once per screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.board.present import summary
from app.board.protocol import SnapshotFrame
from app.board.schemas import SiteRef, SiteView, SystemSite, SystemView, UnitView
from app.carehomes.schemas import CareHomesView
from app.carehomes.service import carehomes_view
from app.discharge.schemas import DischargesView
from app.discharge.service import discharges_view
from app.errors import NotFound
from app.escalation.repository import EscalationRepository
from app.escalation.service import opel_view
from app.flow.evaluator import Evaluator
from app.flow.schemas import SiteFlow
from app.occupancy.projector import bed_view
from app.occupancy.repository import OccupancyRepository
from app.occupancy.schemas import UnitCounts
from app.topology.models import Bed, Unit
from app.topology.repository import TopologyRepository

BUILDS = Counter("flowcc_board_snapshot_builds_total", "Board snapshots read from the database")


async def site_snapshot(session: AsyncSession, site_code: str, flow: Evaluator) -> SiteView:
    topology = TopologyRepository(session)
    site = await topology.site(site_code)
    if site is None:
        raise NotFound(f"no site {site_code}")
    units = await topology.units(site_code)
    counts = await OccupancyRepository(session).unit_counts([unit.id for unit in units])
    beds = (
        await session.execute(
            select(Bed).where(Bed.site_code == site_code).order_by(Bed.unit_id, Bed.position)
        )
    ).scalars()
    return SiteView(
        site=SiteRef(
            code=site.code, name=site.name, kind=site.kind, local_authority=site.local_authority
        ),
        units=[_unit(unit, counts.get(unit.id, {})) for unit in units],
        beds={bed.id: bed_view(bed) for bed in beds},
        now=flow.clock.now().isoformat(),
        metrics=await site_flow(session, flow, site_code),
    )


async def site_flow(session: AsyncSession, flow: Evaluator, site: str) -> SiteFlow | None:
    """The engine's latest evaluation of the site (waits for its first one after a start);
    None for a site the engine does not evaluate (not acute)."""
    await asyncio.wait_for(flow.ready.wait(), timeout=30)
    state = await EscalationRepository(session).state(site)
    return flow.site_view(site, opel_view(state), flow.clock.now())


async def system_snapshot(session: AsyncSession, flow: Evaluator) -> SystemView:
    topology = TopologyRepository(session)
    units = await topology.units()
    counts = await OccupancyRepository(session).unit_counts([unit.id for unit in units])
    sites = await topology.sites()
    await asyncio.wait_for(flow.ready.wait(), timeout=30)
    states = await EscalationRepository(session).states()
    summaries = {}
    for s in sites:
        view = flow.site_view(s.code, opel_view(states.get(s.code)), flow.clock.now())
        if view is not None:
            summaries[s.code] = summary(s.code, view)
    return SystemView(
        sites=[
            SystemSite(code=s.code, name=s.name, kind=s.kind, opel_weight=s.opel_weight)
            for s in sites
        ],
        units=[_unit(unit, counts.get(unit.id, {})) for unit in units],
        now=flow.clock.now().isoformat(),
        summaries=summaries,
        system_opel=opel_view(states.get(flow.config.system_scope)),
    )


def _unit(unit: Unit, counts: dict[str, int]) -> UnitView:
    return UnitView(
        id=unit.id,
        site=unit.site_code,
        code=unit.code,
        name=unit.name,
        kind=unit.kind,
        specialty=unit.specialty,
        counts=UnitCounts(**counts),
    )


View = SiteView | SystemView | DischargesView | CareHomesView


async def snapshot(session: AsyncSession, view: str, flow: Evaluator) -> View:
    kind, _, scope = view.partition(":")
    if kind == "site":
        return await site_snapshot(session, scope, flow)
    if kind == "system":
        return await system_snapshot(session, flow)
    if kind == "discharges":
        data, _ = await discharges_view(
            session, scope, now=flow.clock.now(), ref_key=flow.config.ref_key
        )
        return data
    if kind == "carehomes" and scope in flow.local_authorities:
        return await carehomes_view(session, scope, now=flow.clock.now())
    raise NotFound(f"no such view {view}")


@dataclass(frozen=True)
class Built:
    seq: int  # the view's hub sequence when the build began: it holds every delta up to it
    frame: str  # the encoded snapshot frame
    at: float  # monotonic time it finished


class SnapshotBuilds:
    """At most one snapshot build per view at a time, shared by every client it is valid for.

    A client registers with the hub first, at sequence S, and needs a snapshot holding every
    delta up to S (later ones reach it as frames). A build that began when the view's sequence
    was B holds every delta up to B — deltas are published after their commit — so it serves
    every client with S <= B, and is labelled B (the client drops buffered deltas up to B). A
    client that arrives while an older build runs waits for it to end and then shares the next.
    A finished build is reused for ``fresh_seconds`` while its view's sequence has not moved.
    """

    def __init__(
        self,
        read: Callable[[str], Awaitable[View]],
        current_seq: Callable[[str], int],
        fresh_seconds: float = 1.0,
    ) -> None:
        self._read = read
        self._current_seq = current_seq
        self._fresh = fresh_seconds
        self._running: dict[str, tuple[int, asyncio.Task[Built]]] = {}
        self._done: dict[str, Built] = {}

    async def frame(self, view: str, seq: int) -> str:
        """The encoded snapshot frame of ``view`` for a client registered at ``seq``."""
        while True:
            done = self._done.get(view)
            if (
                done is not None
                and done.seq >= seq
                and done.seq == self._current_seq(view)
                and time.monotonic() - done.at < self._fresh
            ):
                return done.frame
            running = self._running.get(view)
            if running is None:
                started = self._current_seq(view)
                task = asyncio.create_task(self._build(view, started))
                task.add_done_callback(_retrieve)
                running = self._running[view] = (started, task)
            started, task = running
            if started >= seq:
                return (await asyncio.shield(task)).frame
            await asyncio.wait({task})  # too old for this client: share the next one

    async def _build(self, view: str, seq: int) -> Built:
        try:
            BUILDS.inc()
            data = await self._read(view)
            frame = SnapshotFrame(type="snapshot", view=view, seq=seq, data=data, at=time.time())
            built = Built(seq, frame.model_dump_json(), time.monotonic())
            self._done[view] = built
            return built
        finally:
            self._running.pop(view, None)


def reader(
    sessionmaker: async_sessionmaker[AsyncSession], flow: Evaluator
) -> Callable[[str], Awaitable[View]]:
    """Read a view's snapshot from PostgreSQL in a session of its own."""

    async def read(view: str) -> View:
        async with sessionmaker() as session:
            return await snapshot(session, view, flow)

    return read


def _retrieve(task: asyncio.Task[Built]) -> None:
    """A failed build is reported to the clients awaiting it; never "never retrieved"."""
    if not task.cancelled():
        task.exception()
