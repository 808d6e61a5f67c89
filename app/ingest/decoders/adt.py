"""The ADT decoders by kind, exactly as the consumers run them: in the event loop, in the
consumer's decode worker process (consumers/decoding.py) and behind the ingest API's checks."""

from __future__ import annotations

from collections.abc import Callable

from app import topics
from app.ingest.decoders.errors import decoding
from app.ingest.decoders.fhir import decode_fhir_encounter
from app.ingest.decoders.hl7v2 import decode_hl7v2
from app.occupancy.events import AdtEvent


def _hl7v2(raw: bytes) -> list[AdtEvent]:
    # Every processing id is decoded; the projector applies each feed's policy and counts what
    # it drops (training traffic is never dropped without trace).
    return decode_hl7v2(raw, drop_test_traffic=False)


ADT_DECODERS: dict[str, Callable[[bytes], list[AdtEvent]]] = {
    "hl7v2": _hl7v2,
    "fhir": decode_fhir_encounter,
}


# Each ADT topic's decoder kind (the consumers' handlers and the decode worker read it).
ADT_TOPICS = {topics.ADT_HL7V2: "hl7v2", topics.ADT_FHIR: "fhir"}


def decode_adt(kind: str, raw: bytes) -> list[AdtEvent]:
    """A record's events (raises DecodeError, and nothing else)."""
    return decoding(ADT_DECODERS[kind], raw)
