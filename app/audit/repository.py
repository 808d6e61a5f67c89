"""All SQL of the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.auth.schemas import Principal


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def record(self, who: Principal, action: str, resource: str, **detail: Any) -> None:
        """Written in the same transaction as the read it records."""
        self.session.add(
            AuditEntry(
                actor=who.subject,
                role=str(who.role),
                action=action,
                resource=resource,
                detail=detail,
            )
        )

    async def entries(self, *, after_id: int, limit: int) -> Sequence[AuditEntry]:
        query = (
            select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id).limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()
