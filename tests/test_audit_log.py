"""The audit log is append-only at the database: whoever is connected (the service's role, or
this suite's superuser) cannot change or erase an entry; only retention removes entries past
the shortest window it allows (365 days)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

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


@asynccontextmanager
async def as_the_service(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine on the same database as a login role that is only a member of flowcc_app (the
    role the migrations create), as a deployment runs the service."""
    login = f"flowcc_service_{secrets.token_hex(4)}"
    async with engine.connect() as connection:
        await connection.execute(text(f"CREATE ROLE {login} LOGIN IN ROLE flowcc_app"))
        await connection.commit()
    service = create_async_engine(engine.url.set(username=login))
    try:
        yield service
    finally:
        await service.dispose()
        async with engine.connect() as connection:
            await connection.execute(text(f"DROP ROLE {login}"))
            await connection.commit()


async def test_the_service_role_may_only_append_to_the_audit_log(clean_db: AsyncEngine) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=400)
    async with as_the_service(clean_db) as service:
        sessions = async_sessionmaker(service)
        async with sessions() as session, session.begin():
            session.add(AuditEntry(actor="admin", role="admin", action="dead_letter.read",
                                   resource="dead-letter:1", detail={}))  # fmt: skip
            session.add(AuditEntry(actor="admin", role="admin", action="api_key.create",
                                   resource="api-key:1", detail={}, at=long_ago))  # fmt: skip
        refused = {
            "UPDATE audit_log SET actor = 'someone else'": "permission denied for table audit_log",
            "DELETE FROM audit_log": "permission denied for table audit_log",
            "TRUNCATE audit_log": "permission denied for table audit_log",
            "UPDATE alembic_version SET version_num = 'x'": "permission denied for table alembic",
            "CREATE TABLE mine (id int)": "permission denied for schema public",
            "DROP TABLE encounters": "must be owner of table encounters",
        }
        for statement, reason in refused.items():
            with pytest.raises(DBAPIError, match=reason):
                async with sessions() as session, session.begin():
                    await session.execute(text(statement))
        async with sessions() as session, session.begin():
            # Retention, as the service runs it: through purge_audit_log only.
            purged = await RetentionRepository(session).delete_audit(before=now)
            kept = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert (purged, kept) == (1, 1)  # the 400-day-old entry; not the one from today
