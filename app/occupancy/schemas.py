"""The occupancy read model as the boards see it: a bed (never who is in it) and a unit's counts."""

from __future__ import annotations

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
