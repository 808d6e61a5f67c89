"""The audit log is append-only at the database: whoever is connected (the service's role, or
this suite's superuser) cannot change or erase an entry; only retention removes entries past
the shortest window it allows (365 days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.audit.models import AuditEntry
from app.retention.repository import RetentionRepository


async def test_no_update_delete_or_truncate_of_the_audit_log(clean_db: AsyncEngine) -> None:
    sessions = async_sessionmaker(clean_db)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=400)
    async with sessions() as session, session.begin():
        session.add(AuditEntry(actor="admin", role="admin", action="dead_letter.read",
                               resource="dead-letter:1", detail={}))  # fmt: skip
        session.add(AuditEntry(actor="admin", role="admin", action="api_key.create",
                               resource="api-key:1", detail={}, at=long_ago))  # fmt: skip
    for statement in (
        update(AuditEntry).values(actor="someone else"),
        text("DELETE FROM audit_log WHERE action = 'dead_letter.read'"),
        text("TRUNCATE audit_log"),
    ):
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            async with sessions() as session, session.begin():
                await session.execute(statement)
    async with sessions() as session, session.begin():
        purged = await RetentionRepository(session).delete_audit(before=now - timedelta(days=365))
    assert purged == 1  # retention: the entry past the window, and only that one
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(AuditEntry))
        actor = await session.scalar(select(AuditEntry.actor))
    assert (left, actor) == (1, "admin")
