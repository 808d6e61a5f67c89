"""``flowcc replay FILE...``: push recorded feeds into the right topics, keyed as a source would.

Each file is classified by its content, not its name:
- HL7 v2 (optionally MLLP-framed, optionally a batch): each message to ``adt.hl7v2``, keyed by
  its spell (PV1-19), as a PAS interface engine would;
- a FHIR resource (JSON with ``resourceType``; a Bundle's entries one by one) to ``adt.fhir``;
- JSON events, one object or JSON Lines: ambulance (``incident_id``), care-home (``home_code``)
  and discharge (``spell_id``) events to their topics.
A message that will not decode is still sent: the consumers dead-letter it with the reason, as
they would for a live feed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from app.config import Settings
from app.ingest import topics
from consumers.decoders.errors import DecodeError
from consumers.decoders.hl7v2 import decode_message, split_messages

JSON_KINDS = (
    ("incident_id", topics.AMBULANCE),
    ("home_code", topics.CAREHOME_BEDS),
    ("spell_id", topics.DISCHARGE_STATUS),
)


def classify(raw: bytes) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(topic name, key, value) for every message in one file's bytes."""
    if b"MSH" in raw[:1024]:
        yield from _hl7(raw)
        return
    text = raw.decode("utf-8-sig").strip()
    try:
        documents: list[Any] = [json.loads(text)]
    except json.JSONDecodeError:
        documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    for document in documents:
        yield from _json(document)


def _hl7(raw: bytes) -> Iterator[tuple[str, bytes | None, bytes]]:
    for message in split_messages(raw):
        try:
            event = decode_message(message, drop_test_traffic=False)
            key = event.encounter_key.encode() if event else None
        except DecodeError:
            key = None
        yield topics.ADT_HL7V2, key, message.encode()


def _json(document: Any) -> Iterator[tuple[str, bytes | None, bytes]]:
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or []:
            yield from _json(entry.get("resource"))
        return
    if isinstance(document, dict) and "resourceType" in document:
        key = str(document.get("id") or "").encode() or None
        yield topics.ADT_FHIR, key, json.dumps(document).encode()
        return
    for field, topic in JSON_KINDS:
        if isinstance(document, dict) and field in document:
            yield topic, str(document[field]).encode(), json.dumps(document).encode()
            return
    raise ValueError(f"not a feed message this service knows: {str(document)[:120]}")


def replay(settings: Settings, paths: Iterable[Path]) -> Counter[str]:
    """Send every message of every file; returns the count per topic."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=5
    )
    sent: Counter[str] = Counter()
    try:
        for path in paths:
            for name, key, value in classify(path.read_bytes()):
                producer.send(settings.kafka.topic(name), key=key, value=value)
                sent[name] += 1
        producer.flush()
    finally:
        producer.close()
    return sent
