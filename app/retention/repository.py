"""The SQL of retention: what is deleted or stripped, and when (app/retention/service.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.ingest.models import DeadLetter
from app.occupancy.models import Encounter, EncounterEvent, LocationException, ProcessedMessage
from app.webhooks.models import WebhookDelivery

# What identifies a person in a stored ADT event (app/occupancy/events.py AdtEvent).
IDENTIFYING_KEYS = ("patient_id", "nhs_number", "merged_patient_id")
ENDED = ("discharged", "cancelled")


class RetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def forget_people(self, *, ended_before: datetime) -> int:
        """Strip identifiers from spells that ended before ``ended_before`` and from their stored
        events. The spell, its times and its bed history stay: every figure is unchanged."""
        ended = and_(
            Encounter.status.in_(ENDED),
            func.coalesce(Encounter.discharged_at, Encounter.last_event_time) < ended_before,
            or_(Encounter.patient_id.is_not(None), Encounter.nhs_number.is_not(None)),
        )
        ids = list(await self.session.scalars(select(Encounter.id).where(ended)))
        if not ids:
            return 0
        await self.session.execute(
            update(Encounter)
            .where(Encounter.id.in_(ids))
            .values(patient_id=None, nhs_number=None, fold=None)
        )
        stripped: ColumnElement[Any] = EncounterEvent.payload.expression
        for key in IDENTIFYING_KEYS:  # jsonb - 'key': the object without that key
            stripped = stripped.op("-")(key)
        await self.session.execute(
            update(EncounterEvent)
            .where(EncounterEvent.encounter_id.in_(ids))
            .values(payload=stripped)
        )
        return len(ids)

    async def delete_dead_letters(self, *, seen_before: datetime) -> int:
        """Old dead letters, and every one already re-submitted (its bytes live on in Kafka)."""
        result = await self.session.execute(
            delete(DeadLetter).where(
                or_(DeadLetter.first_seen < seen_before, DeadLetter.resubmitted_at.is_not(None))
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def delete_processed_keys(self, *, before: datetime) -> int:
        result = await self.session.execute(
            delete(ProcessedMessage).where(ProcessedMessage.processed_at < before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def delete_location_exceptions(self, *, before: datetime) -> int:
        result = await self.session.execute(
            delete(LocationException).where(LocationException.seen_at < before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def delete_webhook_deliveries(self, *, before: datetime) -> int:
        result = await self.session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.created_at < before, WebhookDelivery.status != "pending"
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def delete_audit(self, *, before: datetime) -> int:
        """Through purge_audit_log: the service's role may not DELETE from audit_log itself
        (migration 5c0e7a1d9b42), and the function deletes nothing younger than 365 days."""
        deleted = await self.session.scalar(
            text("SELECT purge_audit_log(:before)"), {"before": before}
        )
        return int(deleted or 0)

    async def lock(self) -> bool:
        """One purge at a time across processes (a transaction-scoped advisory lock)."""
        return bool(await self.session.scalar(text("SELECT pg_try_advisory_xact_lock(72517)")))
