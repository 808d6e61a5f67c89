"""Canonical ADT events (version 1): what every decoder (HL7 v2, FHIR) produces and the
occupancy projector consumes. Times are UTC; where the source gave no real event time the
fallback used is named in ``time_source`` and ``time_imputed`` is set."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Trigger events the projector understands (domain.md §6.1). Anything else is dead-lettered
# as "unsupported_trigger" so it is visible rather than silently ignored.
SUPPORTED_TRIGGERS = frozenset(
    [
        "A01",
        "A02",
        "A03",
        "A04",
        "A05",
        "A06",
        "A07",
        "A08",
        "A11",
        "A12",
        "A13",
        "A14",
        "A16",
        "A17",
        "A20",
        "A21",
        "A22",
        "A25",
        "A26",
        "A27",
        "A28",
        "A31",
        "A40",
        "A52",
        "A53",
    ]
)

TimeSource = Literal[
    "EVN-6", "PV1-44", "PV1-45", "EVN-2", "MSH-7", "period.start", "period.end", "meta.lastUpdated"
]


class Location(BaseModel):
    """A PV1-3 style location: ward (point of care), bay (room), bed, site (facility)."""

    model_config = ConfigDict(frozen=True)

    ward: str = ""
    bay: str = ""
    bed: str = ""
    site: str = ""

    def is_empty(self) -> bool:
        return not (self.ward or self.bed)

    def text(self) -> str:
        return "^".join((self.ward, self.bay, self.bed, self.site)).rstrip("^")


class AdtEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    source: str = Field(description="Sending facility/system: the namespace of message_id")
    message_id: str = Field(description="MSH-10 or the FHIR resource id + version")
    trigger: str = Field(description="HL7 v2 trigger event, e.g. A01")
    event_time: datetime
    time_source: TimeSource
    time_imputed: bool = False
    hl7_version: str | None = None
    encounter_key: str = Field(description="Stable spell id: <authority>:<visit number>")
    patient_id: str | None = None
    nhs_number: str | None = None
    patient_class: str | None = None
    location: Location | None = None
    prior_location: Location | None = None
    admit_time: datetime | None = None
    discharge_time: datetime | None = None
    merged_patient_id: str | None = None
    bed_status: str | None = Field(default=None, description="A20: HL7 table 0116 code")
    # A17 carries a second patient; the swap is applied to both encounters.
    swap_encounter_key: str | None = None
    swap_location: Location | None = None

    @property
    def dedupe_key(self) -> str:
        """What makes two messages the same event (domain.md §6.3): the spell, the trigger, when
        it happened and where. A retry with the same MSH-10, a resend with a new MSH-10, and a
        sender that reuses MSH-10 for different events are all handled by content."""
        where = self.location.text() if self.location else ""
        prior = self.prior_location.text() if self.prior_location else ""
        return (
            f"{self.encounter_key}|{self.trigger}|{self.event_time.isoformat()}|"
            f"{self.patient_class or ''}|{where}|{prior}"
        )[:300]
