"""Discharge-readiness updates (JSON on ``discharge.status``), version 1 (domain.md §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Pathway = Literal["P0", "P1", "P2", "P3"]
DischargeStatus = Literal[
    "not_ready",
    "ready",
    "referred",
    "assessment_booked",
    "package_sourced",
    "placement_found",
    "discharged",
    "cancelled",
]


class DischargeStatusEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=200)
    spell_id: str = Field(min_length=1, max_length=120, description="The encounter id")
    status: DischargeStatus
    discharge_ready_at: AwareDatetime | None = None
    pathway: Pathway | None = None
    delay_reason: str | None = Field(default=None, max_length=40)
    needs_bed_type: str | None = Field(default=None, max_length=40)
    local_authority: str | None = Field(default=None, max_length=20)
    expected_discharge_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    occurred_at: AwareDatetime
