"""The current discharge picture of each spell (the latest-occurring update wins)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.changes import JsonObject
from app.db import Base


class DischargePlan(Base):
    __tablename__ = "discharge_plans"

    spell_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    status: Mapped[str] = mapped_column(String(30), index=True)
    discharge_ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pathway: Mapped[str | None] = mapped_column(String(2))
    delay_reason: Mapped[str | None] = mapped_column(String(40))
    needs_bed_type: Mapped[str | None] = mapped_column(String(40))
    local_authority: Mapped[str | None] = mapped_column(String(20), index=True)
    expected_discharge_date: Mapped[str | None] = mapped_column(String(10))
    updated_by: Mapped[str | None] = mapped_column(String(120))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str] = mapped_column(String(200))


class DischargeEvent(Base):
    """Every discharge update, kept: the plan is the fold of its spell's updates, field by field
    (the latest update that states a field decides it), whatever order they arrive in."""

    __tablename__ = "discharge_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    spell_id: Mapped[str] = mapped_column(String(120), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fields: Mapped[JsonObject] = mapped_column(JSONB)
