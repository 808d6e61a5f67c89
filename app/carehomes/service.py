"""The carehomes:<la> board view: an authority's care homes with their latest vacancies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.carehomes.repository import CareHomeRepository
from app.discharge.service import homes_summary


async def carehomes_view(session: AsyncSession, la: str, *, now: datetime) -> dict[str, Any]:
    vacancies = await CareHomeRepository(session).vacancies([la])
    return {"local_authority": la, "now": now.isoformat(), "homes": homes_summary(vacancies, now)}
