"""Request bodies and responses of the discharge API."""

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


class IdentityOut(BaseModel):
    """Who a pseudonymous reference is (audited; to this person's social care team or site)."""

    ref: str
    nhs_number: str | None
    patient_id: str | None
    site: str
    ward: str | None


class ProducedOut(BaseModel):
    """Where the update went: it is applied when the consumers read it from Kafka."""

    topic: str
    partition: int
    offset: int
