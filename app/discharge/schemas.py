"""Request bodies and responses of the discharge API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.carehomes.schemas import HomeOut
from app.fields import Text, Timestamp
from app.topology.schemas import LocalAuthorityOut

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


class MatchOut(BaseModel):
    """A care home that could take this person now (by bed type; neighbours after own)."""

    home: str
    name: str
    local_authority: str
    bed_type: str
    admittable: int
    reported_at: Timestamp
    stale: bool
    neighbour: bool = Field(description="In a neighbouring local authority")


class WaitingPerson(BaseModel):
    """Someone ready to leave hospital, by an opaque reference: no identifier."""

    ref: str = Field(description="Opaque: a keyed hash of the spell (identity: audited lookup)")
    site: str | None
    ward: str | None
    pathway: str | None
    status: str
    ready_at: Timestamp
    days_since_ready: int
    delay_reason: str | None
    needs_bed_type: str | None
    expected_discharge_date: str | None
    matches: list[MatchOut]


class WaitingSummary(BaseModel):
    waiting: int
    by_pathway: dict[str, int]
    longest_days: int | None
    over_7_days: int
    admittable_fresh_by_bed_type: dict[str, int]


class DischargesView(BaseModel):
    """The ``discharges:<la>`` board view: who waits, and care-home vacancies nearby."""

    local_authority: LocalAuthorityOut
    now: Timestamp
    pending: list[WaitingPerson]
    summary: WaitingSummary
    homes: list[HomeOut]


class PendingItem(WaitingPerson):
    local_authority: str


class PendingList(BaseModel):
    as_of: Timestamp
    items: list[PendingItem]
