"""Canonical ADT events (version 1): what every decoder (HL7 v2, FHIR) produces and the
occupancy projector consumes. Times are UTC; where the source gave no real event time the
fallback used is named in ``time_source`` and ``time_imputed`` is set; a time known only to the
day or the hour says so in ``time_precision`` (ADR 0007)."""

from __future__ import annotations

import hashlib
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
        "A09",
        "A10",
        "A12",
        "A13",
        "A14",
        "A15",
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
        "A44",
        "A45",
        "A50",
        "A52",
        "A53",
    ]
)

TimeSource = Literal[
    "EVN-6",
    "PV1-44",
    "PV1-45",
    "EVN-2",
    "MSH-7",
    "period.start",
    "period.end",
    "meta.lastUpdated",
    "statusHistory",
    "location.period",
]
Precision = Literal["second", "minute", "hour", "day"]


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
    time_precision: Precision = "second"
    recorded_at: datetime | None = Field(
        default=None,
        description="When the sender recorded the instruction (EVN-2, else MSH-7; a FHIR "
        "version's meta.lastUpdated): its place in the sender's sequence",
    )
    hl7_version: str | None = None
    processing_id: str | None = Field(default=None, description="MSH-11: P, D, T or N")
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
    expected_discharge_at: datetime | None = Field(default=None, description="PV2-9 (EDD)")
    prior_encounter_key: str | None = Field(
        default=None, description="A45/A50: the visit this one replaces (MRG-5)"
    )
    voids_encounter: bool = Field(
        default=False, description="FHIR entered-in-error/cancelled: every earlier version void"
    )
    # A17 carries a second patient; the swap is applied to both encounters.
    swap_encounter_key: str | None = None
    swap_location: Location | None = None

    @property
    def sequence(self) -> datetime:
        """The instruction's place in the sender's sequence (ADR 0007)."""
        return self.recorded_at or self.event_time

    @property
    def content_key(self) -> str:
        """What the instruction says (domain.md §6.3): the spell, the trigger, when it happened,
        the class and where. Two copies with no cancel of their kind between them are one
        instruction (a resend under a new MSH-10); a copy after such a cancel is a clerk's
        re-entry, a new instruction (the fold decides: app/occupancy/fold.py)."""
        where = self.location.text() if self.location else ""
        prior = self.prior_location.text() if self.prior_location else ""
        return (
            f"{self.encounter_key}|{self.trigger}|{self.event_time.isoformat()}|"
            f"{self.patient_class or ''}|{where}|{prior}|{int(self.voids_encounter)}"
        )

    @property
    def dedupe_key(self) -> str:
        """What makes two deliveries the same stored row: the same message (source, MSH-10)
        with the same content. A retry is a no-op; a resend under a new MSH-10, a re-entry after
        a cancel and a sender reusing an MSH-10 for other content are each stored (ADR 0007)."""
        material = f"{self.source}\x1f{self.message_id}\x1f{self.content_key}"
        return hashlib.sha256(material.encode()).hexdigest()
