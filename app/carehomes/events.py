"""Care-home vacancy reports (JSON on ``carehome.beds``), version 1 (domain.md §5)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

BedType = Literal[
    "residential",
    "nursing",
    "dementia_residential",
    "dementia_nursing",
    "short_stay",
    "learning_disability",
    "mental_health",
    "young_physically_disabled",
]


class BedTypeReport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    bed_type: BedType
    capacity: int = Field(ge=0)
    occupied: int = Field(ge=0)
    vacant: int = Field(ge=0)
    vacant_not_admittable: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _adds_up(self) -> BedTypeReport:
        if self.occupied + self.vacant > self.capacity:
            raise ValueError("occupied + vacant exceeds capacity")
        if self.vacant_not_admittable > self.vacant:
            raise ValueError("vacant_not_admittable exceeds vacant")
        return self


class CareHomeReport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal[1] = 1
    report_id: str = Field(min_length=1, max_length=200)
    home_code: str = Field(min_length=1, max_length=30, examples=["1-100000000"])
    open_to_admissions: bool
    closure_reason: str | None = Field(default=None, max_length=200)
    reported_at: AwareDatetime
    beds: list[BedTypeReport] = Field(min_length=1)
