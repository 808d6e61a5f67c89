"""The latest vacancy report per care home and bed type (an older report never overwrites)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class CareHomeVacancy(Base):
    __tablename__ = "care_home_vacancies"

    home_code: Mapped[str] = mapped_column(ForeignKey("care_homes.code"), primary_key=True)
    bed_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    occupied: Mapped[int] = mapped_column(Integer)
    vacant: Mapped[int] = mapped_column(Integer)
    vacant_not_admittable: Mapped[int] = mapped_column(Integer, default=0)
    open_to_admissions: Mapped[bool] = mapped_column(Boolean)
    closure_reason: Mapped[str | None] = mapped_column(String(200))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report_id: Mapped[str] = mapped_column(String(200))
