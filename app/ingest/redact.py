"""A dead letter's message with the people taken out: what a data-quality analyst, a commander
or a BI warehouse may see of a message that could not be applied (its shape, its sender, its
message type, its locations), without the patient's or the staff's identifiers.

HL7 v2: MSH is kept whole; EVN without its operator; PV1 without its doctors and visit numbers;
every other segment (PID, PD1, NK1, GT1, IN1, MRG, OBX, NTE, AL1, DG1, Z-segments, …) keeps
only its set ID. Masking keeps the separators, so the structure (how many fields, components
and repetitions) stays readable: ``PID|1||***^^^***^***||***^***``.
JSON (FHIR, the service's own feeds): every key is kept, and the values of the keys that
describe the event rather than the person. Anything else: only its punctuation.
"""

from __future__ import annotations

import json
import re
from typing import Any

MASK = "***"
PREVIEW_CHARACTERS = 4000
# HL7 v2 fields kept (by segment); other segments keep field 1 (the set ID) only.
KEEP_ALL = frozenset({"MSH"})
MASKED_FIELDS = {
    "EVN": frozenset({5}),  # the operator
    # Attending, referring, consulting, admitting and other doctors; the visit numbers.
    "PV1": frozenset({7, 8, 9, 17, 19, 50, 52}),
}
# JSON keys whose values describe the event, the place or the message, not a person.
JSON_KEEP = frozenset(
    {
        "resourceType", "status", "class", "type", "kind", "event", "event_type", "step",
        "category", "site", "site_code", "destination_site", "unit", "ward", "bay", "bed",
        "location", "occurred_at", "at", "timestamp", "lastUpdated", "start", "end", "period",
        "code", "system", "version", "pathway", "beds_free", "beds_total", "local_authority",
        "care_home", "home_code", "mode", "event_id", "incident_id", "source",
    }
)  # fmt: skip
WORD = re.compile(r"[^\s|^~\\&{}\[\]:,\"']+")


def redacted(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("MSH") and len(stripped) > 8:
        preview = _hl7(stripped)
    else:
        try:
            preview = json.dumps(_json(json.loads(text)), ensure_ascii=False)
        except (ValueError, RecursionError):
            preview = WORD.sub(MASK, text)
    if len(preview) > PREVIEW_CHARACTERS:
        more = len(preview) - PREVIEW_CHARACTERS
        preview = preview[:PREVIEW_CHARACTERS] + f"… ({more} more characters)"
    return preview


def _hl7(text: str) -> str:
    field_separator = text[3]
    encoding = set(text[4:8]) | {field_separator}
    segments = [s for s in re.split(r"\r\n|\r|\n", text) if s]
    return "\r".join(_segment(segment, field_separator, encoding) for segment in segments)


def _segment(segment: str, separator: str, encoding: set[str]) -> str:
    fields = segment.split(separator)
    name = fields[0][:3]
    if name in KEEP_ALL:
        return segment
    masked = MASKED_FIELDS.get(name)
    out = [name]
    for number, value in enumerate(fields[1:], start=1):
        keep = number not in masked if masked is not None else number == 1
        out.append(value if keep else _mask(value, encoding))
    return separator.join(out)


def _mask(value: str, encoding: set[str]) -> str:
    parts = re.split("([" + re.escape("".join(encoding)) + "])", value)
    return "".join(part if part in encoding or not part else MASK for part in parts)


def _json(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(item, key) for item in value]
    if value is None or isinstance(value, bool) or key in JSON_KEEP:
        return value
    return MASK
