"""API keys (all SQL for the auth domain)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        query = select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get(self, key_id: int) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def listing(self) -> Sequence[ApiKey]:
        return (await self.session.execute(select(ApiKey).order_by(ApiKey.id))).scalars().all()

    async def used(self, key_id: int, at: datetime) -> None:
        await self.session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at)
        )
