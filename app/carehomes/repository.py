"""All SQL for care-home vacancies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.carehomes.events import CareHomeReport
from app.carehomes.models import CareHomeVacancy
from app.db import table as table_of
from app.topology.models import CareHome


@dataclass(frozen=True)
class Vacancy:
    home_code: str
    home_name: str
    local_authority: str
    bed_type: str
    vacant: int
    vacant_not_admittable: int
    open_to_admissions: bool
    closure_reason: str | None
    reported_at: datetime


class CareHomeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def home_exists(self, code: str) -> bool:
        return await self.session.get(CareHome, code) is not None

    async def home_authority(self, code: str) -> str | None:
        home = await self.session.get(CareHome, code)
        return home.local_authority if home else None

    async def record(self, report: CareHomeReport) -> None:
        """Latest reported_at wins (ties broken by report id), whatever the arrival order."""
        rows = [
            {
                "home_code": report.home_code,
                "bed_type": bed.bed_type,
                "capacity": bed.capacity,
                "occupied": bed.occupied,
                "vacant": bed.vacant,
                "vacant_not_admittable": bed.vacant_not_admittable,
                "open_to_admissions": report.open_to_admissions,
                "closure_reason": report.closure_reason,
                "reported_at": report.reported_at,
                "report_id": report.report_id,
            }
            for bed in report.beds
        ]
        table = table_of(CareHomeVacancy)
        statement = insert(table)
        incoming = statement.excluded
        newer = (incoming.reported_at > table.c.reported_at) | (
            (incoming.reported_at == table.c.reported_at) & (incoming.report_id > table.c.report_id)
        )
        columns = [c for c in rows[0] if c not in ("home_code", "bed_type")]
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["home_code", "bed_type"],
                set_={name: incoming[name] for name in columns},
                where=newer,
            ),
            rows,
        )
        # Open or closed to admissions is the home's: a closed home is closed for the bed
        # types this report does not list too (never suggested for a placement).
        await self.session.execute(
            update(table)
            .where(
                table.c.home_code == report.home_code,
                table.c.bed_type.not_in([bed.bed_type for bed in report.beds]),
                table.c.reported_at <= report.reported_at,
            )
            .values(
                open_to_admissions=report.open_to_admissions, closure_reason=report.closure_reason
            )
        )

    async def reset(self) -> None:
        """Forget everything (the demo's fresh start)."""
        await self.session.execute(text("TRUNCATE care_home_vacancies"))

    async def vacancies(self, local_authorities: Sequence[str]) -> list[Vacancy]:
        """The latest report of every bed type of every home in these local authorities."""
        query = (
            select(
                CareHome.code.label("home_code"),
                CareHome.name.label("home_name"),
                CareHome.local_authority,
                CareHomeVacancy.bed_type,
                CareHomeVacancy.vacant,
                CareHomeVacancy.vacant_not_admittable,
                CareHomeVacancy.open_to_admissions,
                CareHomeVacancy.closure_reason,
                CareHomeVacancy.reported_at,
            )
            .join(CareHomeVacancy, CareHomeVacancy.home_code == CareHome.code)
            .where(CareHome.local_authority.in_(list(local_authorities)))
            .order_by(CareHome.local_authority, CareHome.code, CareHomeVacancy.bed_type)
        )
        return [Vacancy(**row._mapping) for row in (await self.session.execute(query)).all()]
