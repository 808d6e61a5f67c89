"""What the engine's leader writes after an evaluation (app/flow/evaluator.py): a webhook for
each OPEL level that moved, and metric samples — of every scope when the 5-minute sample is
due, of a scope whose level moved otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue import OPEL_SAMPLES, SiteMetrics, authority_numbers, numbers, system_numbers
from app.escalation.repository import EscalationRepository
from app.escalation.schemas import OpelView
from app.webhooks.service import enqueue


@dataclass(frozen=True)
class Sampling:
    metrics: Mapping[str, SiteMetrics]  # each site's latest
    sites: Mapping[str, float]  # the acute sites
    local_authorities: list[str]
    system_scope: str
    sampled_here: bool  # this process has taken a sample on the cadence


async def record(
    session: AsyncSession,
    escalation: EscalationRepository,
    sampling: Sampling,
    changed: set[str],
    opel: dict[str, OpelView | None],
    now: datetime,
    sample_all: bool,
) -> None:
    """The leader's writes, in the evaluation's transaction."""
    for scope in sorted(changed):
        view = opel.get(scope)
        await enqueue(session, "opel.changed", scope, view.model_dump(mode="json") if view else {})
    # Until this process has taken its first sample on the cadence, a level that moves is
    # not sampled: it may be a passing state of a catch-up (after a rebuild or a demo reset
    # the backlog is applied in seconds, and a sample is stamped with the time it is taken).
    on_change = changed if sampling.sampled_here else set()
    for scope in sorted(set(opel) if sample_all else on_change):
        escalation.add_samples(scope, samples(sampling, scope, opel.get(scope)), now)
    if sample_all:  # a local authority's: from its people in every site's beds
        sites = [numbers(m) for site, m in sampling.metrics.items() if site in sampling.sites]
        for la in sampling.local_authorities:
            escalation.add_samples(la, authority_numbers(sites, la), now)


def samples(sampling: Sampling, scope: str, opel: OpelView | None) -> dict[str, float]:
    metrics = sampling.metrics.get(scope)
    values = numbers(metrics) if metrics is not None else {}
    if scope == sampling.system_scope:  # the whole system's, from its sites'
        values = system_numbers(
            numbers(m) for s, m in sampling.metrics.items() if s in sampling.sites
        )
    if opel is not None:
        for name, key in OPEL_SAMPLES.items():
            value = getattr(opel, key)
            if isinstance(value, int | float):
                values[name] = float(value)
    return values
