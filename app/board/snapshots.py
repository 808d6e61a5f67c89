"""Whole-view snapshots, read from PostgreSQL (the truth), for a (re)subscribing client."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.carehomes.service import carehomes_view
from app.discharge.service import discharges_view
from app.errors import NotFound
from app.escalation.repository import EscalationRepository
from app.escalation.service import opel_view
from app.flow.engine import FlowEngine, summary
from app.occupancy.projector import bed_view
from app.occupancy.repository import OccupancyRepository
from app.topology.models import Bed
from app.topology.repository import TopologyRepository


async def site_snapshot(session: AsyncSession, site_code: str, flow: FlowEngine) -> dict[str, Any]:
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
    return {
        "site": {
            "code": site.code,
            "name": site.name,
            "kind": site.kind,
            "local_authority": site.local_authority,
        },
        "units": [_unit(unit, counts.get(unit.id, {})) for unit in units],
        "beds": {bed.id: bed_view(bed) for bed in beds},
        "now": flow.clock.now().isoformat(),
        "metrics": await _site_metrics(session, flow, site_code),
    }


async def _site_metrics(session: AsyncSession, flow: FlowEngine, site: str) -> dict[str, Any]:
    """The engine's latest evaluation of the site (waits for its first one after a start)."""
    await asyncio.wait_for(flow.ready.wait(), timeout=30)
    state = await EscalationRepository(session).state(site)
    return {"as_of": flow.clock.now().isoformat(), **flow.site_view(site, opel_view(state))}


async def system_snapshot(session: AsyncSession, flow: FlowEngine) -> dict[str, Any]:
    topology = TopologyRepository(session)
    units = await topology.units()
    counts = await OccupancyRepository(session).unit_counts([unit.id for unit in units])
    sites = await topology.sites()
    await asyncio.wait_for(flow.ready.wait(), timeout=30)
    states = await EscalationRepository(session).states()
    return {
        "sites": [
            {"code": s.code, "name": s.name, "kind": s.kind, "opel_weight": s.opel_weight}
            for s in sites
        ],
        "units": [_unit(unit, counts.get(unit.id, {})) for unit in units],
        "now": flow.clock.now().isoformat(),
        "summaries": {
            s.code: summary(s.code, await _site_metrics(session, flow, s.code))
            for s in sites
            if s.code in flow.sites
        },
        "system_opel": opel_view(states.get(flow.config.system_scope)),
    }


def _unit(unit: Any, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": unit.id,
        "site": unit.site_code,
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "specialty": unit.specialty,
        "counts": counts,
    }


async def snapshot(session: AsyncSession, view: str, flow: FlowEngine) -> dict[str, Any]:
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
