"""Webhooks and deliveries (all SQL for the webhook domain)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.webhooks.models import Webhook, WebhookDelivery


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Webhook | WebhookDelivery) -> None:
        self.session.add(row)

    async def get(self, webhook_id: int) -> Webhook | None:
        return await self.session.get(Webhook, webhook_id)

    async def listing(self) -> Sequence[Webhook]:
        return (await self.session.execute(select(Webhook).order_by(Webhook.id))).scalars().all()

    async def subscribed(self, event: str, scope: str) -> Sequence[Webhook]:
        query = select(Webhook).where(
            Webhook.active.is_(True),
            Webhook.events.contains([event]),
            or_(func.cardinality(Webhook.scopes) == 0, Webhook.scopes.contains([scope])),
        )
        return (await self.session.execute(query)).scalars().all()

    async def deliveries(
        self, webhook_id: int, *, before_id: int | None, limit: int
    ) -> Sequence[WebhookDelivery]:
        query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
        if before_id is not None:
            query = query.where(WebhookDelivery.id < before_id)
        query = query.order_by(WebhookDelivery.id.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta
    ) -> Sequence[tuple[WebhookDelivery, Webhook]]:
        """Due deliveries with their webhook, leased so no other process sends them meanwhile."""
        query = (
            select(WebhookDelivery, Webhook)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
        rows = [(row[0], row[1]) for row in (await self.session.execute(query)).all()]
        if rows:
            await self.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([d.id for d, _ in rows]))
                .values(next_attempt_at=now + lease)
            )
        return rows

    async def delivery(self, delivery_id: int) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id)
