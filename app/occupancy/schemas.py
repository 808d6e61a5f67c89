"""The occupancy read model as the boards see it: a bed (never who is in it) and a unit's counts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.fields import Timestamp


class BedView(BaseModel):
    """What a board may know about a bed: never who is in it."""

    unit: str
    code: str
    bay: str | None
    kind: str = Field(description="core | escalation | virtual")
    status: str = Field(
        description="HL7 table 0116 as held: U open, C closed, H housekeeping, I isolated, "
        "K contaminated"
    )
    occupied: bool
    occupied_since: Timestamp | None


class UnitCounts(BaseModel):
    """A unit's bed counts (G&A beds; escalation beds when open; virtual ward patients)."""

    core_beds: int = 0
    open_beds: int = 0
    occupied: int = 0
    free: int = 0
    unavailable: int = 0
    closed: int = 0
    escalation_open: int = 0
    virtual_occupied: int = 0


class LocationCodeRead(BaseModel):
    """One distinct location code a sender used that the bed master does not know."""

    source: str | None = Field(description="The sending facility (MSH-4, FHIR meta.source)")
    location_text: str = Field(description="The sender's own code: PL.1^PL.2^PL.3^PL.4")
    messages: int = Field(description="Messages that carried it")
    held: int = Field(description="Of those, how many still hold a spell in exception")
    first_seen: datetime
    last_seen: datetime
    sites: list[str] = Field(description="Our sites it was read as")
    sample_trigger: str
    sample_message_id: str | None
    detail: str
