"""Request bodies of the discharge API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.fields import Text

HubStatus = Literal[
    "ready", "referred", "assessment_booked", "package_sourced", "placement_found", "cancelled"
]


class StatusUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: HubStatus = Field(examples=["assessment_booked"])
    delay_reason: Text | None = Field(default=None, max_length=40, examples=["x"])
