"""The carehomes:<la> board view: an authority's care homes with their latest vacancies."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.carehomes.repository import CareHomeRepository, Vacancy
from app.carehomes.schemas import CareHomesView, HomeOut

# A report older than this is shown stale and not matched (domain.md: homes report weekly at least).
STALE_AFTER = timedelta(days=7)


def admittable(vacancy: Vacancy) -> int:
    return max(0, vacancy.vacant - vacancy.vacant_not_admittable)


def homes_summary(vacancies: list[Vacancy], now: datetime) -> list[HomeOut]:
    homes: dict[str, HomeOut] = {}
    for v in vacancies:
        home = homes.setdefault(
            v.home_code,
            HomeOut(
                home=v.home_code,
                name=v.home_name,
                local_authority=v.local_authority,
                open=v.open_to_admissions,
                closure_reason=v.closure_reason,
                reported_at=v.reported_at.isoformat(),
                stale=now - v.reported_at > STALE_AFTER,
                admittable={},
            ),
        )
        home.admittable[v.bed_type] = admittable(v)
    return list(homes.values())


async def carehomes_view(session: AsyncSession, la: str, *, now: datetime) -> CareHomesView:
    vacancies = await CareHomeRepository(session).vacancies([la])
    return CareHomesView(
        local_authority=la, now=now.isoformat(), homes=homes_summary(vacancies, now)
    )
