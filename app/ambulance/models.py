"""One row per incident: the time of each journey step (the latest report of each step wins)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class AmbulanceJourney(Base):
    __tablename__ = "ambulance_journeys"
    __table_args__ = (Index("ix_ambulance_site_handover", "destination_site", "handover_at"),)

    incident_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    patient: Mapped[str] = mapped_column(
        String(10), primary_key=True, default="", server_default=""
    )
    category: Mapped[int] = mapped_column(Integer)
    destination_site: Mapped[str | None] = mapped_column(String(20), index=True)
    vehicle: Mapped[str | None] = mapped_column(String(40))
    call_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_scene_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    conveying_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    handover_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clear_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
