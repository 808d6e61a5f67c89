"""Small factories for canonical events and HL7 messages."""

from __future__ import annotations

import itertools
from datetime import timedelta

from app.occupancy.events import AdtEvent, Location
from app.simulation.hl7 import Patient, Place, adt_message
from tests.support.clock import T0

_ids = itertools.count(1)
__all__ = ["PATIENT", "T0", "event", "hl7"]


def event(
    trigger: str,
    minutes: int,
    *,
    bed: str | None = "B01",
    ward: str = "AMU",
    site: str = "RAN01",
    encounter: str = "RAN:VN:1",
    cls: str = "I",
    message_id: str | None = None,
) -> AdtEvent:
    location = Location(ward=ward, bay="BAY1", bed=bed, site=site) if bed else None
    return AdtEvent(
        source="RAN",
        message_id=message_id or f"m{next(_ids)}",
        trigger=trigger,
        event_time=T0 + timedelta(minutes=minutes),
        time_source="EVN-6",
        encounter_key=encounter,
        patient_id="MRN1",
        patient_class=cls,
        location=location,
    )


PATIENT = Patient("MRN1", "9449305552", "Testing", "Alex", "19450101", "F")


def hl7(
    trigger: str,
    minutes: int,
    *,
    bed: str = "B01",
    ward: str = "AMU",
    site: str = "RAN01",
    visit: str = "V1",
    control_id: str | None = None,
    cls: str = "I",
) -> bytes:
    return adt_message(
        trigger=trigger,
        control_id=control_id or f"c{next(_ids)}",
        sending_facility="RAN",
        patient=PATIENT,
        visit_number=visit,
        patient_class=cls,
        event_time=T0 + timedelta(minutes=minutes),
        location=Place(site, ward, "BAY1", bed) if bed else None,
    )
