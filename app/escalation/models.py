"""Current OPEL per scope (a site code, or the economy code for the system) and its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.changes import JsonObject
from app.db import Base


class OpelState(Base):
    __tablename__ = "opel_states"

    scope: Mapped[str] = mapped_column(String(20), primary_key=True)
    computed_level: Mapped[int | None] = mapped_column(Integer)
    raw_level: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    below_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    readings: Mapped[list[JsonObject]] = mapped_column(JSONB, default=list)
    computed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    declared_level: Mapped[int | None] = mapped_column(Integer)
    declared_by: Mapped[str | None] = mapped_column(String(120))
    declared_reason: Mapped[str | None] = mapped_column(Text)
    declared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OpelHistory(Base):
    """Append-only: every computed or declared level change, with what caused it."""

    __tablename__ = "opel_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # computed | declared
    level: Mapped[int | None] = mapped_column(Integer)
    previous_level: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    readings: Mapped[list[JsonObject]] = mapped_column(JSONB, default=list)
    actor: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class MetricSample(Base):
    """Every metric of every scope, every 5 minutes and on each level change (trends, SPC)."""

    __tablename__ = "metric_samples"
    __table_args__ = (Index("ix_metric_samples_scope_metric_at", "scope", "metric", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(20))
    metric: Mapped[str] = mapped_column(String(80))
    value: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
