"""HL7 v2 ER7 ADT → canonical :class:`AdtEvent`. Values are read with the lazy ER7 tokenizer
(``er7.py``), proved value-for-value equal to python-hl7 (ADR 0004).

Handles MLLP framing, FHS/BHS batches, ``\\r``/``\\n``/``\\r\\n`` separators, a UTF-8 BOM and
Latin-1 bytes, escape sequences, and MSH-11 (the processing id travels with the event; which
ids are applied is each feed's policy, default P only). Versions 2.2–2.8. Event time: EVN-6,
then PV1-44/45, then EVN-2, then MSH-7 (the last two flagged as imputed); a time known only to
the day or the hour never beats a precise one, and says so (ADR 0007). A20 carries MSH, EVN and
NPU only: no spell.
"""

from __future__ import annotations

from datetime import datetime

from app.ingest.decoders.er7 import Er7Error, Er7Message
from app.ingest.decoders.errors import InvalidValue, MissingField, Undecodable, UnsupportedEvent
from app.ingest.decoders.hl7time import parse_hl7_time, precision_of
from app.occupancy.events import SUPPORTED_TRIGGERS, AdtEvent, Location, Precision, TimeSource

MLLP_START, MLLP_END = b"\x0b", b"\x1c"
PRECISE = ("second", "minute")  # to the minute is precise; to the hour or day is not
ADMIT_TRIGGERS = frozenset({"A01", "A04", "A05", "A06", "A11", "A14", "A27"})


def split_messages(raw: bytes) -> list[str]:
    """Raw bytes (optionally MLLP-framed, optionally a batch) → ER7 texts, one per message."""
    text = _to_text(raw)
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    messages: list[list[str]] = []
    for segment in text.split("\r"):
        segment = segment.strip(" \t\x00")
        if not segment or segment[:3] in ("FHS", "BHS", "BTS", "FTS"):
            continue
        if segment.startswith("MSH"):
            messages.append([])
        if not messages:
            raise Undecodable("no MSH segment before the first segment")
        messages[-1].append(segment)
    if not messages:
        raise Undecodable("no HL7 v2 message (no MSH segment)")
    return ["\r".join(segments) for segments in messages]


def _to_text(raw: bytes) -> str:
    raw = raw.strip()
    if raw.startswith(MLLP_START):
        raw = raw[1:]
    end = raw.find(MLLP_END)
    if end != -1:
        raw = raw[:end]
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if b"MSH" not in raw[:1024]:
        raise Undecodable("no MSH segment in the first 1 KB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # UK PAS feeds still send Latin-1 / Windows-1252 (MSH-18 8859/1); this cannot fail.
        return raw.decode("cp1252", errors="replace")


class _Fields:
    """Safe, unescaped access to one message: missing means ''."""

    def __init__(self, message: Er7Message) -> None:
        self.message = message
        self._read: dict[tuple[str, int, int, int, int], str] = {}  # a value is read once
        # a time is parsed once: MSH-7, EVN-2 and PV1-44/45 are each read two or three times
        self._times: dict[tuple[str, int], tuple[datetime | None, Precision]] = {}

    def get(self, segment: str, field: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        key = (segment, field, component, sub, rep)
        value = self._read.get(key)
        if value is None:
            try:
                value = self._read[key] = self.message.get(segment, field, component, sub, rep)
            except Er7Error as error:
                raise InvalidValue(str(error)) from error
        return value

    def count(self, name: str) -> int:
        return self.message.count(name)

    def repetitions(self, segment: str, field: int, most: int = 5) -> range:
        """The repetition numbers the field has, the first ``most`` of them."""
        return range(1, min(most, self.message.repetitions(segment, field)) + 1)

    def time(self, segment: str, field: int) -> tuple[datetime | None, Precision]:
        """The field's time (None when empty) and how precisely it is known."""
        key = (segment, field)
        known = self._times.get(key)
        if known is None:
            text = self.get(segment, field)
            try:
                value = parse_hl7_time(text)
            except InvalidValue as error:
                raise InvalidValue(f"{segment}-{field}: {error.message}") from error
            known = self._times[key] = (value, precision_of(text))
        return known

    def location(self, segment: str, field: int) -> Location | None:
        try:
            ward, bay, bed, site = self.message.values(segment, field, 4)
        except Er7Error as error:
            raise InvalidValue(str(error)) from error
        location = Location(ward=ward, bay=bay, bed=bed, site=site)
        return None if location.is_empty() else location


def decode_hl7v2(raw: bytes, *, drop_test_traffic: bool = True) -> list[AdtEvent]:
    """All ADT events in ``raw`` (a batch gives several); [] for dropped test traffic."""
    events = []
    for text in split_messages(raw):
        event = decode_message(text, drop_test_traffic=drop_test_traffic)
        if event is not None:
            events.append(event)
    return events


def decode_message(text: str, *, drop_test_traffic: bool = True) -> AdtEvent | None:
    try:
        fields = _Fields(Er7Message(text))
    except Er7Error as error:
        raise Undecodable(f"not an ER7 message: {error}") from error
    if drop_test_traffic and fields.get("MSH", 11).upper().startswith("T"):
        return None  # the REST ingest's check; consumers apply each feed's policy
    message_type = fields.get("MSH", 9, 1)
    trigger = fields.get("MSH", 9, 2) or fields.get("EVN", 1)
    if message_type != "ADT":
        raise UnsupportedEvent(f"message type {message_type or '(empty)'} is not ADT")
    if trigger not in SUPPORTED_TRIGGERS:
        raise UnsupportedEvent(f"ADT trigger {trigger or '(empty)'} is not supported")
    message_id = fields.get("MSH", 10)
    if not message_id:
        raise MissingField("MSH-10 (message control id) is empty")
    event_time, time_source, precision = _event_time(fields, trigger)
    common = {
        "source": fields.get("MSH", 4) or fields.get("MSH", 3) or "unknown",
        "message_id": message_id,
        "trigger": trigger,
        "event_time": event_time,
        "time_source": time_source,
        "time_imputed": time_source in ("EVN-2", "MSH-7") or precision not in PRECISE,
        "time_precision": precision,
        "recorded_at": _time(fields, "EVN", 2) or _time(fields, "MSH", 7),
        "hl7_version": fields.get("MSH", 12) or None,
        "processing_id": fields.get("MSH", 11, 1).upper() or None,
    }
    if trigger == "A20":  # MSH, EVN and NPU only (domain.md §6.3): a bed, no spell
        return AdtEvent(
            **common,
            encounter_key="",
            location=fields.location("NPU", 1),
            bed_status=fields.get("NPU", 2) or None,
        )
    return AdtEvent(
        **common,
        encounter_key=_encounter_key(fields, "PV1", "PID"),
        patient_id=_patient_id(fields, "PID"),
        nhs_number=_nhs_number(fields),
        patient_class=fields.get("PV1", 2) or None,
        location=fields.location("PV1", 3),
        prior_location=fields.location("PV1", 6),
        admit_time=_precise(fields, "PV1", 44),
        discharge_time=_precise(fields, "PV1", 45),
        expected_discharge_at=_time(fields, "PV2", 9),
        merged_patient_id=fields.get("MRG", 1) or None,
        prior_encounter_key=_prior_visit(fields) if trigger in ("A45", "A50") else None,
        **_swap(fields, trigger),
    )


def _time(fields: _Fields, segment: str, field: int) -> datetime | None:
    return fields.time(segment, field)[0]


def _precise(fields: _Fields, segment: str, field: int) -> datetime | None:
    """A stated admit/discharge time, unless it is known only to the day or hour."""
    value, precision = fields.time(segment, field)
    return value if precision in PRECISE else None


Candidates = tuple[tuple[TimeSource, str, int], ...]
_EVN: Candidates = (("EVN-6", "EVN", 6),)
_SENT: Candidates = (("EVN-2", "EVN", 2), ("MSH-7", "MSH", 7))
_ADMITTED: Candidates = (*_EVN, ("PV1-44", "PV1", 44), *_SENT)
_CANDIDATES: dict[str, Candidates] = dict.fromkeys(ADMIT_TRIGGERS, _ADMITTED)
_CANDIDATES["A03"] = (*_EVN, ("PV1-45", "PV1", 45), *_SENT)
_OTHER: Candidates = (*_EVN, *_SENT)


def _event_time(fields: _Fields, trigger: str) -> tuple[datetime, TimeSource, Precision]:
    """The first precise candidate; if none is precise, the first there is (flagged). Every
    candidate is read (one that is not a time refuses the message, wherever it stands)."""
    first: tuple[datetime, TimeSource, Precision] | None = None
    best: tuple[datetime, TimeSource, Precision] | None = None
    for source, segment, field in _CANDIDATES.get(trigger, _OTHER):
        value, precision = fields.time(segment, field)
        if value is not None:
            first = first or (value, source, precision)
            if best is None and precision in PRECISE:
                best = (value, source, precision)
    if first is None:
        raise MissingField("no event time: EVN-6, PV1-44/45, EVN-2 and MSH-7 are all empty")
    return best or first


def _prior_visit(fields: _Fields) -> str | None:
    """MRG-5: the visit number this one replaces (A45 move visit, A50 change visit number)."""
    visit = fields.get("MRG", 5, 1)
    authority = fields.get("MRG", 5, 4) or fields.get("MSH", 4) or fields.get("MSH", 3)
    return f"{authority}:VN:{visit}" if visit else None


def _patient_id(fields: _Fields, segment: str, field: int = 3) -> str | None:
    """The local MRN: the PID-3 repetition typed MR, else the first one."""
    first = fields.get(segment, field, 1)
    for rep in fields.repetitions(segment, field):
        if fields.get(segment, field, 5, rep=rep) == "MR":
            return fields.get(segment, field, 1, rep=rep) or first or None
    return first or None


def _nhs_number(fields: _Fields) -> str | None:
    for rep in fields.repetitions("PID", 3):
        if fields.get("PID", 3, 4, rep=rep) == "NHS" or fields.get("PID", 3, 5, rep=rep) == "NH":
            return fields.get("PID", 3, 1, rep=rep) or None
    return None


def _encounter_key(fields: _Fields, pv1: str, pid: str) -> str:
    """PV1-19 visit number within its assigning authority; else the MRN (UK feeds without a
    visit number identify the spell by the local patient id)."""
    visit = fields.get(pv1, 19, 1)
    authority = fields.get(pv1, 19, 4) or fields.get("MSH", 4) or fields.get("MSH", 3)
    if visit:
        return f"{authority}:VN:{visit}"
    patient = _patient_id(fields, pid)
    if patient:
        return f"{fields.get('MSH', 4) or fields.get('MSH', 3)}:MR:{patient}"
    raise MissingField("neither PV1-19 (visit number) nor PID-3 (patient id) is present")


def _swap(fields: _Fields, trigger: str) -> dict[str, object]:
    """A17 swaps two patients: the second PID/PV1 group (python-hl7 addresses it as PV12)."""
    if trigger != "A17" or fields.count("PV1") < 2:
        return {}
    return {
        "swap_encounter_key": _encounter_key(fields, "PV12", "PID2"),
        "swap_location": fields.location("PV12", 3),
    }
