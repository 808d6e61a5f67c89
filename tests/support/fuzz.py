"""Hostile inputs for every decoder (issue #15): mutations of valid messages — escapes that
expand, times at the edges of the calendar, truncated MLLP frames, wrong encodings, separators
that lie — plus random bytes and random, deep and huge JSON. Used by the short fuzz in
``make test`` and the long one in ``make soak`` (bench/fuzz.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from app.simulation.hl7 import hl7_time
from tests.factories import T0, hl7

KINDS = ("hl7v2", "fhir", "ambulance", "carehome", "discharge")

HOSTILE_VALUES = [
    "\\.in999999999\\", "\\.sp99999\\", "\\.spX\\", "\\.sp-5\\", "\\X\\", "\\XZZ\\", "\\XA\\",
    "\\", "\\\\", "\\F", "\\E\\E\\", "\\Cxxyy\\", "\\Mxxyyzz\\", "\\Zabc\\", "\\H\\", "\\.br\\",
    "", '""', "^^^^^^^^", "~~~~", "&&&&", "A" * 70_000, "\x00", "\ud800", "é", "\u202e",
]  # fmt: skip
_DAY = hl7_time(T0)[:8]  # the run's own day: the edges below are about shape, not date
HOSTILE_TIMES = [
    "00010101000000+0100", "99991231235959-1400", _DAY[:6] + "30", _DAY[:4], _DAY[:6], "+2400",
    _DAY + "+2400", _DAY + "-9999", _DAY + "120000.1234567", _DAY + "126099", "19000101",
    "21991231235959+1400", _DAY + "12", _DAY + "1200+0000", _DAY[:6] + "32", "x" * 40,
]  # fmt: skip


SEGMENTS = st.sampled_from([b"MSH", b"EVN", b"PID", b"PV1", b"NPU", b"MRG"])
# The fields the decoder reads (ER7 field numbers, MSH counted as the parser splits it).
READ_FIELDS = (
    [(b"MSH", i) for i in (1, 3, 8, 9, 10, 11)]
    + [(b"EVN", 2), (b"EVN", 6)]
    + [(b"PV1", i) for i in (2, 3, 6, 19, 44, 45)]
    + [(b"PID", 3), (b"NPU", 1), (b"NPU", 2), (b"MRG", 1)]
)


def _valid_hl7(n: int) -> bytes:
    kinds = ["A01", "A02", "A03", "A04", "A08", "A11", "A13", "A17", "A20", "A40"]
    trigger = kinds[n % len(kinds)]
    return hl7(trigger, n, visit=f"VF{n}", bed=f"B{n % 20 + 1:02d}", control_id=f"F{n}")


def _replace_field(message: bytes, segment: bytes, index: int, value: bytes) -> bytes:
    lines = message.split(b"\r")
    for number, line in enumerate(lines):
        if line.startswith(segment):
            fields = line.split(b"|")
            while len(fields) <= index:
                fields.append(b"")
            fields[index] = value
            lines[number] = b"|".join(fields)
    return b"\r".join(lines)


@st.composite
def hl7_messages(draw: st.DrawFn) -> bytes:
    message = _valid_hl7(draw(st.integers(0, 50)))
    for _ in range(draw(st.integers(0, 4))):
        mutation = draw(st.integers(0, 6))
        segment, index = draw(
            st.sampled_from(READ_FIELDS) | st.tuples(SEGMENTS, st.integers(1, 50))
        )
        if mutation == 0:
            value = draw(st.sampled_from(HOSTILE_VALUES)).encode("utf-8", "surrogatepass")
            message = _replace_field(message, segment, index, value)
        elif mutation == 1:
            value = draw(st.sampled_from(HOSTILE_TIMES)).encode()
            message = _replace_field(message, segment, index, value)
        elif mutation == 2:  # truncated, or an MLLP frame cut short
            cut = draw(st.integers(0, len(message)))
            message = draw(st.sampled_from([b"", b"\x0b"])) + message[:cut]
        elif mutation == 3:  # a wrong encoding
            text = message.decode("latin-1")
            message = text.encode(draw(st.sampled_from(["utf-16", "utf-32", "cp500"])))
        elif mutation == 4:  # separators that lie
            message = b"MSH" + draw(st.binary(min_size=0, max_size=6)) + message[8:]
        elif mutation == 5:
            at = draw(st.integers(0, len(message)))
            message = message[:at] + draw(st.binary(max_size=64)) + message[at:]
        else:  # a repetition bomb
            message = _replace_field(message, b"PID", 3, b"~".join([b"1^^^NHS^NH"] * 20_000))
    return message


def _valid_json(kind: str, n: int) -> dict[str, Any]:
    at = (T0 + timedelta(minutes=n)).isoformat()
    if kind == "fhir":
        return {
            "resourceType": "Encounter",
            "id": f"e{n}",
            "status": "in-progress",
            "meta": {"versionId": "1", "lastUpdated": at},
            "identifier": [{"system": "RNF", "value": str(n)}],
            "class": {"code": "IMP"},
            "period": {"start": at},
            "location": [{"location": {"reference": "Location/RNF01:AMU:B01"}}],
        }
    if kind == "ambulance":
        return {"event_id": f"e{n}", "incident_id": f"i{n}", "step": "call", "category": 2,
                "destination_site": "RAN01", "occurred_at": at}  # fmt: skip
    if kind == "carehome":
        return {"report_id": f"r{n}", "home_code": "1-100000000", "open_to_admissions": True,
                "reported_at": at, "beds": [{"bed_type": "nursing", "capacity": 5,
                                              "occupied": 4, "vacant": 1}]}  # fmt: skip
    return {"event_id": f"d{n}", "spell_id": "RAN:VN:1", "status": "ready", "occurred_at": at}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=20,
)


@st.composite
def json_documents(draw: st.DrawFn, kind: str) -> bytes:
    document: Any = _valid_json(kind, draw(st.integers(0, 50)))
    choice = draw(st.integers(0, 9))  # 5-9: left valid (the fuzz must reach the applied path)
    if choice == 0:  # one field replaced by anything
        key = draw(st.sampled_from(sorted(document)))
        document[key] = draw(json_values | st.sampled_from(HOSTILE_TIMES + HOSTILE_VALUES[:20]))
    elif choice == 1:
        document = draw(json_values)
    elif choice == 2:  # nested deep
        depth = draw(st.integers(100, 200_000))
        return b"[" * depth + b"]" * draw(st.sampled_from([depth, 0]))
    elif choice == 3:  # huge
        document[draw(st.sampled_from(sorted(document)))] = "x" * draw(st.integers(1, 3_000_000))
    elif choice == 4:
        raw = json.dumps(document).encode()
        return raw[: draw(st.integers(0, len(raw)))]
    raw = json.dumps(document, allow_nan=True).encode()
    if draw(st.integers(0, 2)):
        return raw
    return raw.decode().encode(draw(st.sampled_from(["utf-16", "latin-1"])), errors="replace")


def inputs(kind: str) -> st.SearchStrategy[bytes]:
    """Hostile inputs for one ingest kind, including bytes meant for the others."""
    own = hl7_messages() if kind == "hl7v2" else json_documents(kind)
    return st.one_of(own, own, st.binary(max_size=4096), hl7_messages(), json_documents("fhir"))
