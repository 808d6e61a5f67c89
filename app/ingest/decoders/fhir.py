"""FHIR R4 Encounter (JSON) → canonical :class:`AdtEvent`s, validated with fhir.resources (R4B
models, which match R4 for Encounter). ADR 0007.

A FHIR feed sends the Encounter's whole current state each time, so each version tells the
spell's story as far as it goes, as the ADT events that produce it: the ED arrival (class EMER:
the door time from ``classHistory``/``statusHistory``/``period.start``, never the version's
``meta.lastUpdated``), the admission (the change to an inpatient class, or the first inpatient
location), each later location (``location[].period.start``), leave, and the end
(``period.end``). Versions repeat what earlier ones said: the fold collapses the copies. A later
version that is in progress again cancels an earlier "finished" (an A13); ``entered-in-error``
and ``cancelled`` void every version (an A11 that voids the encounter). An EMER encounter in
progress is a patient in ED, not an admission. Times without an offset are Europe/London.

Bed locations are references ``Location/<SITE>:<WARD>:<BED>`` (the bed master id) or carry that
id as the location's identifier; anything else is kept as text (a location exception, or a
location mapping's input).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.encounter import Encounter, EncounterLocation
from pydantic import ValidationError

from app.ingest.decoders.errors import InvalidValue, MissingField, Undecodable, UnsupportedEvent
from app.ingest.decoders.hl7time import LONDON
from app.occupancy.events import AdtEvent, Location, Precision, TimeSource
from app.occupancy.fold import WardNames

CLASS_CODES = {"EMER": "E", "IMP": "I", "ACUTE": "I", "NONAC": "I", "PRENC": "P", "AMB": "O",
               "OBSENC": "I", "SS": "O", "HH": "O", "VR": "O"}  # fmt: skip
NO_BED_CLASSES = frozenset({"AMB", "HH", "VR", "FLD"})
STATUSES = frozenset({"planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                      "cancelled", "entered-in-error"})  # fmt: skip
VOIDING = frozenset({"cancelled", "entered-in-error"})


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
    if encounter.status not in STATUSES:
        raise UnsupportedEvent(f"Encounter.status {encounter.status!r} has no bed meaning")
    return _Story(encounter, raw, class_code).events()


class _Story:
    """One Encounter version, told as ADT events."""

    def __init__(self, encounter: Encounter, raw: bytes, class_code: str | None) -> None:
        self.encounter, self.class_code = encounter, class_code
        self.patient_class = CLASS_CODES.get(class_code or "")
        meta = encounter.meta
        version = meta.versionId if meta else None
        self.id = f"Encounter/{encounter.id or '?'}/_history/"
        self.id += version or hashlib.sha256(raw).hexdigest()[:16]
        self.recorded = _moment(meta.lastUpdated) if meta and meta.lastUpdated else None
        self.source = (meta.source if meta else None) or "fhir"
        self.key = _encounter_key(encounter)
        self.period = encounter.period
        # Times read from a date alone (known to the day only).
        self.dates = {_moment(v) for v in _period_values(encounter) if _is_date(v)}

    def events(self) -> list[AdtEvent]:
        status = self.encounter.status
        if status in VOIDING:
            at = self.recorded or self._start() or self._end()
            if at is None:
                raise MissingField("no time: neither meta.lastUpdated nor Encounter.period")
            return [self._event("A11", "void", at, voids_encounter=True)]
        if status == "planned" or (status == "arrived" and self.patient_class != "E"):
            return [self._event("A05", "plan", self._required(self._start(), "period.start"))]
        story = self._ed() + self._inpatient()
        if status == "onleave":
            story.append(self._event("A21", "leave", self._required(self._status_start(status))))
        if status == "finished":
            end = self._end()
            story.append(self._event("A03", "end", self._required(end, "period.end")))
        elif status == "in-progress" and self.patient_class != "E" and self.recorded:
            # In progress after a version that said finished: that discharge was cancelled.
            story.append(self._event("A13", "unfinish", self.recorded, location=self._current()))
        return story

    # ------------------------------------------------------------------ the story

    def _ed(self) -> list[AdtEvent]:
        arrived = self._arrival()
        if arrived is None:
            return []
        in_ed = self._ed_places()
        where = in_ed[0][1] if in_ed else (self._current() if self.patient_class == "E" else None)
        arrive = self._event("A04", "arrive", arrived, cls="E", location=where)
        moves = [
            self._event("A02", f"ed-{n}", start, cls="E", location=place)
            for n, (start, place) in enumerate(in_ed[1:], 1)
            if start is not None
        ]
        return [arrive, *moves]

    def _inpatient(self) -> list[AdtEvent]:
        """Any class but EMER in progress is in a bed (a pre-admission that arrived, a short
        stay): the admission, then each later location."""
        if self.patient_class == "E":
            return []
        admitted = self._admission()
        if admitted is None:
            raise MissingField("no time: no class history, status history, location period, "
                               "period.start or meta.lastUpdated")  # fmt: skip
        places = self._places()[len(self._ed_places()) :]
        first = places[0][1] if places else self._current()
        admit = self._event("A01", "admit", admitted, cls=self.patient_class or "I",
                            location=first, admit_time=admitted)  # fmt: skip
        moves = [
            self._event("A02", f"move-{n}", start, cls=self.patient_class or "I", location=place)
            for n, (start, place) in enumerate(places[1:], 1)
            if start is not None
        ]
        return [admit, *moves]

    def _ed_places(self) -> list[tuple[datetime | None, Location]]:
        """The leading places in ED: all of them in class EMER; before the class change (or,
        without a class history, while the place names an ED) otherwise."""
        places = self._places()
        if self.patient_class == "E":
            return places
        admitted = self._class_change()
        if admitted is not None:
            return [p for p in places if p[0] is not None and p[0] < admitted]
        leading = []
        for start, place in places:
            if WardNames().is_ed(place) is not True:
                break
            leading.append((start, place))
        return leading

    # ------------------------------------------------------------------ times

    def _arrival(self) -> datetime | None:
        """The ED door: the EMER span of classHistory, else (class EMER now) the arrived or
        triaged status, else (an inpatient whose first places were in ED) period.start."""
        for entry in self.encounter.classHistory or []:
            is_emergency = entry.class_fhir is not None and entry.class_fhir.code == "EMER"
            if is_emergency and entry.period and entry.period.start:
                return _moment(entry.period.start)
        if self.patient_class == "E":
            return self._status_start("arrived") or self._status_start("triaged") or self._start()
        ed = self._ed_places()
        if not ed:
            return None
        return self._start() or ed[0][0]

    def _class_change(self) -> datetime | None:
        for entry in self.encounter.classHistory or []:
            code = entry.class_fhir.code if entry.class_fhir else None
            if CLASS_CODES.get(code or "") == "I" and entry.period and entry.period.start:
                return _moment(entry.period.start)
        return None

    def _admission(self) -> datetime | None:
        """The class change; else, after an ED part, the first place out of ED; else the
        in-progress status, the period's start or the version's time."""
        changed = self._class_change()
        if changed is not None:
            return changed
        if self._arrival() is not None:
            later = self._places()[len(self._ed_places()) :]
            if later and later[0][0] is not None:
                return later[0][0]
            return self._status_start("in-progress") or self.recorded
        return self._status_start("in-progress") or self._start() or self.recorded

    def _status_start(self, status: str) -> datetime | None:
        for entry in self.encounter.statusHistory or []:
            if entry.status == status and entry.period and entry.period.start:
                return _moment(entry.period.start)
        return None

    def _start(self) -> datetime | None:
        return _moment(self.period.start) if self.period and self.period.start else None

    def _end(self) -> datetime | None:
        return _moment(self.period.end) if self.period and self.period.end else None

    def _required(self, at: datetime | None, what: str = "a time") -> datetime:
        if at is not None:
            return at
        if self.recorded is not None:
            return self.recorded
        raise MissingField(f"no event time: {what} and meta.lastUpdated are empty")

    # ------------------------------------------------------------------ places

    def _places(self) -> list[tuple[datetime | None, Location]]:
        """Where the patient has been (active and completed entries), in time order."""
        entries = [e for e in self.encounter.location or [] if e.status in (None, "active",
                                                                         "completed")]  # fmt: skip
        located = [(_entry_start(e), _location(e)) for e in entries]
        found = [(start, place) for start, place in located if place is not None]
        return sorted(found, key=lambda item: item[0] or datetime.min.replace(tzinfo=LONDON))

    def _current(self) -> Location | None:
        active = [e for e in self.encounter.location or [] if e.status in (None, "active")]
        active.sort(key=lambda e: _entry_start(e) or datetime.min.replace(tzinfo=LONDON))
        for entry in reversed(active):
            place = _location(entry)
            if place is not None:
                return place
        return None

    def _event(self, trigger: str, part: str, at: datetime, **fields: Any) -> AdtEvent:
        cls = fields.pop("cls", self.patient_class)
        source: TimeSource = "period.end" if trigger == "A03" else "period.start"
        precision: Precision = "day" if at in self.dates else "second"
        return AdtEvent(
            source=self.source,
            message_id=f"{self.id}#{part}",
            trigger=trigger,
            event_time=at,
            time_source=source,
            time_imputed=at == self.recorded,
            time_precision=precision,
            recorded_at=self.recorded,
            encounter_key=self.key,
            patient_id=self.encounter.subject.reference if self.encounter.subject else None,
            patient_class=cls,
            **fields,
        )


def _period_values(encounter: Encounter) -> list[Any]:
    periods = [encounter.period]
    periods += [e.period for e in encounter.classHistory or []]
    periods += [e.period for e in encounter.statusHistory or []]
    periods += [e.period for e in encounter.location or []]
    return [v for p in periods if p is not None for v in (p.start, p.end) if v is not None]


def _entry_start(entry: EncounterLocation) -> datetime | None:
    return _moment(entry.period.start) if entry.period and entry.period.start else None


def _location(entry: EncounterLocation) -> Location | None:
    reference = entry.location.reference or ""
    identifier = entry.location.identifier.value if entry.location.identifier else None
    bed_id = identifier or reference.removeprefix("Location/")
    parts = bed_id.split(":")
    if len(parts) == 3 and all(parts):
        return Location(site=parts[0], ward=parts[1], bed=parts[2])
    text = entry.location.display or reference
    return Location(ward=text[:200]) if text else None


def _encounter_key(encounter: Encounter) -> str:
    for identifier in encounter.identifier or []:
        if identifier.value:
            system = identifier.system or "fhir"
            return f"{system}:VN:{identifier.value}"
    if encounter.id:
        return f"fhir:Encounter:{encounter.id}"
    raise MissingField("Encounter has neither an identifier nor an id")


def _moment(value: Any) -> datetime:
    """A FHIR dateTime/instant as UTC; without an offset it is London time (domain.md §6.3).
    A date alone is that day's start, and ``_is_date`` says so."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value)
        try:
            moment = datetime.fromisoformat(text if len(text) > 10 else f"{text[:10]}T00:00:00")
        except ValueError as error:
            raise InvalidValue("an unreadable FHIR dateTime") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.astimezone(UTC)


def _is_date(value: Any) -> bool:
    return not isinstance(value, datetime) and len(str(value)) <= 10
