"""Encounters (spells), their stored event history, and locations we could not resolve."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.changes import JsonObject
from app.db import Base


class Encounter(Base):
    """The current derived state of one hospital spell: always the fold of its events."""

    __tablename__ = "encounters"
    __table_args__ = (
        # The engine's per-site reads: who is in ED, who left ED or hospital since midnight.
        Index("ix_encounters_site_status", "site_code", "status"),
        Index("ix_encounters_site_ed_departed", "site_code", "ed_departed_at"),
        Index("ix_encounters_site_discharged", "site_code", "discharged_at"),
    )

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    site_code: Mapped[str | None] = mapped_column(String(20), index=True)
    patient_id: Mapped[str | None] = mapped_column(String(80), index=True)
    nhs_number: Mapped[str | None] = mapped_column(String(20))
    patient_class: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    bed_id: Mapped[str | None] = mapped_column(ForeignKey("beds.id"), index=True)
    location_text: Mapped[str | None] = mapped_column(String(200))
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    admitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discharged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ed_arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ed_departed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_to_admit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The ED area (resus, majors, minors, ...) of a patient in ED (the mapped location's bay).
    ed_area: Mapped[str | None] = mapped_column(String(40))
    expected_discharge_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pending_discharge: Mapped[bool] = mapped_column(Boolean, default=False)
    on_leave: Mapped[bool] = mapped_column(Boolean, default=False)
    last_event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Since when the spell is where it is (its bed's occupied_since): not the last event, which
    # may be a later A08 snapshot.
    location_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # The folded state and where its plain fold ends (app/occupancy/incremental.py); None: the
    # next event re-folds the history. Read only by the projector.
    fold: Mapped[JsonObject | None] = mapped_column(JSONB(none_as_null=True), deferred=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class EncounterEvent(Base):
    """Every applied ADT event, kept so late and cancelling events can be re-folded."""

    __tablename__ = "encounter_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    encounter_id: Mapped[str] = mapped_column(String(120), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    trigger: Mapped[str] = mapped_column(String(4))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[JsonObject] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ProcessedMessage(Base):
    """Source message ids already applied: a redelivered message is a no-op."""

    __tablename__ = "processed_messages"

    source: Mapped[str] = mapped_column(String(120), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class LocationException(Base):
    """A location not in the bed master: listed for the bed team, never silently dropped. One
    row per message that carried it (whatever batch it came in), with the sender's own code, so
    an integrator maps a feed by working down the distinct codes; resolved when a mapping or a
    bed-master change lets its spell be placed."""

    __tablename__ = "location_exceptions"
    __table_args__ = (Index("ix_location_exceptions_code", "source", "location_text"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    encounter_id: Mapped[str] = mapped_column(String(120), index=True)
    source: Mapped[str | None] = mapped_column(String(120))
    message_id: Mapped[str | None] = mapped_column(String(200))
    site_code: Mapped[str | None] = mapped_column(String(60))
    location_text: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(4))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PatientMerge(Base):
    """A40: the surviving patient of a merged identifier (every later fold maps through it)."""

    __tablename__ = "patient_merges"

    old_patient_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    new_patient_id: Mapped[str] = mapped_column(String(80))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LocationMapRow(Base):
    """One sender's location mapping (app/occupancy/mapping.py), loaded from the economy's
    locations file: every process and consumer maps with the same rules."""

    __tablename__ = "location_maps"

    source: Mapped[str] = mapped_column(String(120), primary_key=True)
    mapping: Mapped[JsonObject] = mapped_column(JSONB)
    digest: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FeedCounter(Base):
    """What a feed sent that leaves no other trace (training traffic dropped, ...): the feed
    conformance report reads it (flowcc feed-report, GET /api/v1/feeds)."""

    __tablename__ = "feed_counters"

    source: Mapped[str] = mapped_column(String(120), primary_key=True)
    counter: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
