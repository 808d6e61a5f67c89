"""Retention (issue #15): nothing is kept longer than it is needed. The defaults and the reason
for each are in docs/retention.md (``FLOWCC_RETENTION_*``, ``KAFKA_*RETENTION_DAYS`` change
them). Identifiers are stripped, never the spells: every figure, trend and sample is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock
from app.config import RetentionSettings
from app.logging import get_logger
from app.retention.repository import RetentionRepository

log = get_logger(__name__)


@dataclass(frozen=True)
class Purged:
    people_forgotten: int = 0
    dead_letters: int = 0
    processed_keys: int = 0
    location_exceptions: int = 0
    webhook_deliveries: int = 0
    audit_entries: int = 0
    skipped: bool = False  # another process was purging


async def purge(
    repository: RetentionRepository, policy: RetentionSettings, now: datetime
) -> Purged:
    """Apply the retention policy as of ``now``, in the caller's transaction."""
    if not await repository.lock():
        return Purged(skipped=True)

    def days(count: int) -> datetime:
        return now - timedelta(days=count)

    purged = Purged(
        people_forgotten=await repository.forget_people(ended_before=days(policy.identifiers_days)),
        dead_letters=await repository.delete_dead_letters(
            seen_before=days(policy.dead_letters_days)
        ),
        processed_keys=await repository.delete_processed_keys(
            before=days(policy.processed_keys_days)
        ),
        location_exceptions=await repository.delete_location_exceptions(
            before=days(policy.location_exceptions_days)
        ),
        webhook_deliveries=await repository.delete_webhook_deliveries(
            before=days(policy.webhook_deliveries_days)
        ),
        audit_entries=await repository.delete_audit(before=days(policy.audit_days)),
    )
    log.info("retention_purged", **purged.__dict__)
    return purged


async def purge_now(
    sessionmaker: async_sessionmaker[AsyncSession], policy: RetentionSettings, now: datetime
) -> Purged:
    """One purge in its own transaction (``flowcc purge``, the leader's schedule)."""
    async with sessionmaker() as session, session.begin():
        return await purge(RetentionRepository(session), policy, now)


async def purge_on_schedule(
    sessionmaker: async_sessionmaker[AsyncSession],
    policy: RetentionSettings,
    clock: Clock,
    is_leader: Callable[[], bool],
) -> None:
    """Every ``policy.every_hours``, on the engine leader only (a failure is logged, retried at
    the next turn: retention is never urgent to the minute)."""
    if policy.every_hours <= 0:
        return
    while True:
        await asyncio.sleep(policy.every_hours * 3600)
        if not is_leader():
            continue
        try:
            await purge_now(sessionmaker, policy, clock.now())
        except Exception as error:  # the database away: next turn
            log.warning("retention_failed", error=repr(error))
