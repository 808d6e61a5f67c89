"""Build HL7 v2 ADT messages the way a UK PAS sends them (v2.4 / v2.5.1): PV1-3 as
``ward^bay^bed^site``, NHS number and local MRN in PID-3, PV1-19 visit number, EVN-6 event time.
Names are synthetic and never reach a board."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


# Message structure by trigger (v2.4 and v2.5.1 tables); the rest share ADT_A01.
STRUCTURES = {"A02": "ADT_A02", "A03": "ADT_A03", "A11": "ADT_A09", "A17": "ADT_A17",
              "A20": "ADT_A20"}  # fmt: skip


def escape(value: str) -> str:
    return "".join(ESCAPES.get(char, char) for char in value)


def hl7_time(moment: datetime) -> str:
    """Local UK time with its offset, as most UK feeds send it."""
    local = moment.astimezone(LONDON)
    offset = local.strftime("%z")
    return local.strftime("%Y%m%d%H%M%S") + offset


@dataclass(frozen=True)
class Patient:
    mrn: str
    nhs_number: str
    family: str
    given: str
    birth_date: str  # YYYYMMDD
    sex: str


NOBODY = Patient("", "", "", "", "", "")  # an A20 concerns a bed, not a patient


@dataclass(frozen=True)
class Place:
    site: str
    ward: str = ""
    bay: str = ""
    bed: str = ""
    # A PAS's own code for this place, when it is not ours (a trust needing a location map).
    pas_code: str | None = None

    def pl(self) -> str:
        if self.pas_code is not None:
            return self.pas_code
        return "^".join(escape(part) for part in (self.ward, self.bay, self.bed, self.site))


def adt_message(
    *,
    trigger: str,
    control_id: str,
    sending_facility: str,
    patient: Patient,
    visit_number: str,
    patient_class: str,
    event_time: datetime,
    recorded_time: datetime | None = None,
    location: Place | None = None,
    prior_location: Place | None = None,
    admit_time: datetime | None = None,
    discharge_time: datetime | None = None,
    version: str = "2.4",
    processing_id: str = "P",
    specialty: str = "",
    merged_mrn: str | None = None,
    bed_status: str | None = None,
    evn6: bool = True,
    discharge_date_only: bool = False,
) -> bytes:
    """``evn6=False`` leaves EVN-6 empty (many PAS never fill it); ``discharge_date_only``
    writes PV1-45 as a date alone (the time of day lost)."""
    recorded = recorded_time or event_time
    now = hl7_time(recorded)
    structure = STRUCTURES.get(trigger, "ADT_A01")
    segments = [
        f"MSH|^~\\&|PAS|{sending_facility}|FLOWCC|QAB|{now}||ADT^{trigger}^{structure}|"
        f"{control_id}|{processing_id}|{version}|||AL|NE||8859/1|EN",
        f"EVN|{trigger}|{now}|||PAS^SYSTEM|{hl7_time(event_time) if evn6 else ''}",
    ]
    if trigger == "A20":
        segments.append(f"NPU|{location.pl() if location else ''}|{bed_status or 'U'}")
        return ("\r".join(segments) + "\r").encode("latin-1", errors="replace")
    segments.append(
        f"PID|1||{patient.nhs_number}^^^NHS^NH~{patient.mrn}^^^{sending_facility}^MR||"
        f"{escape(patient.family)}^{escape(patient.given)}||{patient.birth_date}|{patient.sex}"
    )
    if merged_mrn:
        segments.append(f"MRG|{merged_mrn}^^^{sending_facility}^MR")
    segments.append(
        "PV1|1|{cls}|{loc}|||{prior}||||{spec}|||||||||{visit}^^^{fac}^VN|||||||||||||||||||||||||"
        "{admit}|{discharge}".format(
            cls=patient_class,
            loc=location.pl() if location else "",
            prior=prior_location.pl() if prior_location else "",
            spec=escape(specialty),
            visit=visit_number,
            fac=sending_facility,
            admit=hl7_time(admit_time) if admit_time else "",
            discharge=_discharge(discharge_time, discharge_date_only),
        )
    )
    return ("\r".join(segments) + "\r").encode("latin-1", errors="replace")


def _discharge(moment: datetime | None, date_only: bool) -> str:
    if moment is None:
        return ""
    return moment.astimezone(LONDON).strftime("%Y%m%d") if date_only else hl7_time(moment)
