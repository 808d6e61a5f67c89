"""FHIR R4 Encounter (JSON) → canonical :class:`AdtEvent`, validated with fhir.resources (R4B
models, which match R4 for Encounter).

A FHIR feed sends the Encounter's whole current state each time, so each version becomes the
ADT event that produces that state: planned → A05, arrived/triaged → A04, in-progress → A01 at
the active location, onleave → A21, finished → A03, cancelled/entered-in-error → A11.
Bed locations are references ``Location/<SITE>:<WARD>:<BED>`` (the bed master id) or carry that
id as the location's identifier; anything else is kept as text and becomes a location exception.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.encounter import Encounter
from pydantic import ValidationError

from app.occupancy.events import AdtEvent, Location, TimeSource
from consumers.decoders.errors import InvalidValue, MissingField, Undecodable, UnsupportedEvent

STATUS_TRIGGER = {
    "planned": "A05",
    "arrived": "A04",
    "triaged": "A04",
    "in-progress": "A01",
    "onleave": "A21",
    "finished": "A03",
    "cancelled": "A11",
    "entered-in-error": "A11",
}
CLASS_CODES = {"EMER": "E", "IMP": "I", "ACUTE": "I", "NONAC": "I", "PRENC": "P", "AMB": "O",
               "OBSENC": "I", "SS": "O", "HH": "O", "VR": "O"}  # fmt: skip
NO_BED_CLASSES = frozenset({"AMB", "HH", "VR", "FLD"})


def decode_fhir_encounter(raw: bytes) -> list[AdtEvent]:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Undecodable(f"not JSON: {error}") from error
    except RecursionError as error:  # the parser met its recursion limit at once: no cost
        raise Undecodable("not JSON: recursion limit exceeded (nested too deep)") from error
    if not isinstance(document, dict):
        raise Undecodable("a FHIR resource must be a JSON object")
    kind = document.get("resourceType")
    if kind != "Encounter":
        raise UnsupportedEvent(f"FHIR resource type {kind!r} is not Encounter")
    try:
        encounter = Encounter.model_validate(document)
    except ValidationError as error:
        raise InvalidValue(f"invalid FHIR Encounter: {error.errors()[0]['msg']}") from error
    class_code = encounter.class_fhir.code if encounter.class_fhir else None
    if class_code in NO_BED_CLASSES:
        return []  # an outpatient, home or virtual contact never holds a bed
    trigger = STATUS_TRIGGER.get(encounter.status or "")
    if trigger is None:
        raise UnsupportedEvent(f"Encounter.status {encounter.status!r} has no bed meaning")
    event_time, time_source = _event_time(encounter, document)
    patient_class = CLASS_CODES.get(class_code or "")
    return [
        AdtEvent(
            source=(document.get("meta") or {}).get("source") or "fhir",
            message_id=_version_id(encounter, raw),
            trigger=trigger,
            event_time=event_time,
            time_source=time_source,
            time_imputed=time_source == "meta.lastUpdated",
            encounter_key=_encounter_key(encounter),
            patient_id=encounter.subject.reference if encounter.subject else None,
            patient_class=patient_class,
            # An arrival's location is the ED (its site counts the attendance); no bed is held.
            location=_active_location(encounter) if trigger in ("A01", "A21", "A04") else None,
            admit_time=_utc(encounter.period.start) if encounter.period else None,
            discharge_time=_utc(encounter.period.end) if encounter.period else None,
        )
    ]


def _version_id(encounter: Encounter, raw: bytes) -> str:
    version = encounter.meta.versionId if encounter.meta else None
    content = hashlib.sha256(raw).hexdigest()[:16]
    return f"Encounter/{encounter.id or '?'}/_history/{version or content}"


def _encounter_key(encounter: Encounter) -> str:
    for identifier in encounter.identifier or []:
        if identifier.value:
            system = identifier.system or "fhir"
            return f"{system}:VN:{identifier.value}"
    if encounter.id:
        return f"fhir:Encounter:{encounter.id}"
    raise MissingField("Encounter has neither an identifier nor an id")


def _event_time(encounter: Encounter, document: dict[str, Any]) -> tuple[datetime, TimeSource]:
    """finished → period.end; otherwise the version's meta.lastUpdated (when this state was
    recorded, so flagged imputed), else period.start."""
    period = encounter.period
    if encounter.status == "finished" and period and period.end:
        return _as_datetime(period.end), "period.end"
    updated = encounter.meta.lastUpdated if encounter.meta else None
    if updated is not None:
        return _as_datetime(updated), "meta.lastUpdated"
    if period and period.start:
        return _as_datetime(period.start), "period.start"
    if period and period.end:
        return _as_datetime(period.end), "period.end"
    raise MissingField("no event time: Encounter.period and meta.lastUpdated are empty")


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _utc(value) or value
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text if len(text) > 10 else f"{text}T00:00:00")
    except ValueError as error:
        raise InvalidValue(f"unreadable FHIR dateTime {text!r}") from error
    return _utc(parsed) or parsed


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return _as_datetime(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _active_location(encounter: Encounter) -> Location | None:
    """The active location entry that started last (entries without a period count as oldest)."""
    active = [e for e in encounter.location or [] if e.status in (None, "active")]
    active.sort(key=lambda e: str(e.period.start) if e.period and e.period.start else "")
    for entry in reversed(active):
        reference = entry.location.reference or ""
        identifier = entry.location.identifier.value if entry.location.identifier else None
        bed_id = identifier or reference.removeprefix("Location/")
        parts = bed_id.split(":")
        if len(parts) == 3 and all(parts):
            return Location(site=parts[0], ward=parts[1], bed=parts[2])
        text = entry.location.display or reference
        if text:
            return Location(ward=text)
    return None
