"""Discharge-readiness updates (JSON on ``discharge.status``), version 1 (domain.md §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

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
    spell_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        description="This service's spell id (`<authority>:VN:<visit number>`, as the discharge "
        "list shows it); or give the sender's own visit_number and visit_authority instead",
    )
    visit_number: str | None = Field(
        default=None, min_length=1, max_length=60, description="The PAS visit number (PV1-19)"
    )
    visit_authority: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="Who issued the visit number: PV1-19.4, else the sending facility (MSH-4)",
    )
    status: DischargeStatus
    discharge_ready_at: AwareDatetime | None = None
    pathway: Pathway | None = None
    delay_reason: str | None = Field(default=None, max_length=40)
    needs_bed_type: str | None = Field(default=None, max_length=40)
    local_authority: str | None = Field(default=None, max_length=20)
    expected_discharge_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    updated_by: str | None = Field(default=None, max_length=120, description="Who made it")
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _names_a_spell(self) -> DischargeStatusEvent:
        if self.spell_id is None and not (self.visit_number and self.visit_authority):
            raise ValueError("name the spell: spell_id, or visit_number with visit_authority")
        return self

    @property
    def spell_key(self) -> str:
        """The spell: as given, or built from the sender's own identifiers."""
        return self.spell_id or f"{self.visit_authority}:VN:{self.visit_number}"

    def provided(self) -> dict[str, object]:
        """The plan fields this update states. A field it leaves out keeps its value (an
        explicit null clears it): an update never wipes what it does not mention."""
        identity = {"schema_version", "event_id", "spell_id", "visit_number", "visit_authority",
                    "occurred_at"}  # fmt: skip
        return {name: getattr(self, name) for name in self.model_fields_set - identity}
