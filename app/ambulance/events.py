"""Ambulance journey step events (JSON on ``ambulance.events``), version 1."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Step = Literal[
    "call",
    "dispatched",
    "at_scene",
    "conveying",
    "arrived_at_hospital",
    "handover_complete",
    "clear",
]
STEP_COLUMNS: dict[str, str] = {
    "call": "call_at",
    "dispatched": "dispatched_at",
    "at_scene": "at_scene_at",
    "conveying": "conveying_at",
    "arrived_at_hospital": "arrived_at",
    "handover_complete": "handover_at",
    "clear": "clear_at",
}


class AmbulanceEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=200, examples=["RYA-20261125-000123-arrived"])
    incident_id: str = Field(min_length=1, max_length=100, examples=["RYA-20261125-000123"])
    step: Step
    category: int = Field(ge=1, le=4, description="Ambulance Response Programme category 1-4")
    destination_site: str | None = Field(default=None, max_length=20, examples=["RAN01"])
    vehicle: str | None = Field(default=None, max_length=40)
    patient: str = Field(
        default="",
        max_length=10,
        description="Which patient of the incident (CAD patient number) when one incident "
        "conveys more than one: each is a journey and a handover of its own",
    )
    occurred_at: AwareDatetime

    def column(self) -> str:
        return STEP_COLUMNS[self.step]

    @property
    def when(self) -> datetime:
        return self.occurred_at
