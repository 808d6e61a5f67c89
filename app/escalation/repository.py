"""All SQL of the escalation domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.escalation.models import MetricSample, OpelHistory, OpelState


class EscalationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def states(self, *, lock: bool = False) -> dict[str, OpelState]:
        await self.session.flush()  # states added in this transaction are part of the answer
        query = select(OpelState).order_by(OpelState.scope)
        if lock:
            query = query.with_for_update()
        return {state.scope: state for state in (await self.session.execute(query)).scalars()}

    async def state(self, scope: str, *, lock: bool = False) -> OpelState | None:
        query = select(OpelState).where(OpelState.scope == scope)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    def add(self, row: OpelState | OpelHistory) -> None:
        self.session.add(row)

    async def history(
        self, scope: str | None, *, before_id: int | None, limit: int
    ) -> Sequence[OpelHistory]:
        query = select(OpelHistory).order_by(OpelHistory.id.desc()).limit(limit)
        if scope is not None:
            query = query.where(OpelHistory.scope == scope)
        if before_id is not None:
            query = query.where(OpelHistory.id < before_id)
        return (await self.session.execute(query)).scalars().all()

    def add_samples(self, scope: str, values: dict[str, float], at: datetime) -> None:
        self.session.add_all(
            MetricSample(scope=scope, metric=metric, value=value, at=at)
            for metric, value in sorted(values.items())
        )

    async def last_sample_at(self, scope: str, metric: str) -> datetime | None:
        """When this scope's metric was last sampled (one index probe)."""
        query = (
            select(MetricSample.at)
            .where(MetricSample.scope == scope, MetricSample.metric == metric)
            .order_by(MetricSample.at.desc())
            .limit(1)
        )
        return await self.session.scalar(query)

    async def samples(
        self, scope: str, metric: str, *, since: datetime, until: datetime | None, limit: int
    ) -> Sequence[MetricSample]:
        query = (
            select(MetricSample)
            .where(MetricSample.scope == scope, MetricSample.metric == metric)
            .where(MetricSample.at >= since)
            .order_by(MetricSample.at)
            .limit(limit)
        )
        if until is not None:
            query = query.where(MetricSample.at < until)
        return (await self.session.execute(query)).scalars().all()

    async def reset(self, *, keep_history: bool = False) -> None:
        """Forget the current levels (and, unless kept, the history and samples)."""
        tables = "opel_states" if keep_history else "opel_states, opel_history, metric_samples"
        await self.session.execute(text(f"TRUNCATE {tables}"))
