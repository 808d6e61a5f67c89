"""Request bodies and responses of the escalation API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.escalation.profile import OpelProfile
from app.fields import Text, Timestamp


class DeclareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: int = Field(ge=1, le=4, examples=[3])
    reason: Text = Field(
        min_length=3,
        max_length=2000,
        examples=["Two wards closed with norovirus; computed level understates pressure"],
    )


class ReadingOut(BaseModel):
    """One OPEL parameter's value and the level it scores."""

    id: str
    label: str
    value: float | None
    level: int | None
    weight: float


class DeclaredOut(BaseModel):
    level: int
    by: str | None
    reason: str | None
    at: Timestamp | None


class OpelView(BaseModel):
    """A scope's OPEL: computed (after hysteresis), raw, the readings behind it, what drives it,
    and a level declared by a person, if any."""

    scope: str
    computed_level: int | None
    raw_level: int | None
    score: float | None
    below_since: Timestamp | None
    computed_at: Timestamp | None
    readings: list[ReadingOut]
    drivers: list[str] = Field(description="The readings at the highest level (if above 1)")
    declared: DeclaredOut | None


class EscalationNow(BaseModel):
    profile: OpelProfile
    system_scope: str
    levels: list[OpelView | None]


class HistoryEntry(BaseModel):
    id: int
    kind: str
    level: int | None
    previous_level: int | None
    score: float | None
    readings: list[ReadingOut]
    actor: str | None
    reason: str | None
    at: Timestamp


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_before_id: int | None = Field(description="Pass as ?before_id= for the next page")


class Declared(BaseModel):
    opel: OpelView | None
