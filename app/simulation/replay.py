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

from app import topics
from app.config import Settings
from app.ingest.decoders.errors import DecodeError, decoding
from app.ingest.decoders.hl7v2 import decode_message, split_messages
from app.kafka import connect

JSON_KINDS = (
    ("incident_id", topics.AMBULANCE),
    ("home_code", topics.CAREHOME_BEDS),
    ("spell_id", topics.DISCHARGE_STATUS),
)


class NotAFeed(ValueError):
    """A file (or a line of one) that is no feed message this service knows."""


def classify(raw: bytes) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(topic name, key, value) for every message in one file's bytes; NotAFeed if a part of it
    cannot be sent anywhere (not HL7 v2, not UTF-8 JSON)."""
    if b"MSH" in raw[:1024]:
        yield from _hl7(raw)
        return
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError as error:
        raise NotAFeed(f"not HL7 v2 (no MSH) nor UTF-8 JSON (byte {error.start})") from None
    try:
        documents: list[Any] = [json.loads(text)]
    except (ValueError, RecursionError):
        documents = [_line(number, line) for number, line in enumerate(text.splitlines(), 1)]
    for document in documents:
        if document is not None:
            yield from _json(document)


def _line(number: int, line: str) -> Any:
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        raise NotAFeed(f"line {number} is neither JSON nor part of a JSON document") from None


def _hl7(raw: bytes) -> Iterator[tuple[str, bytes | None, bytes]]:
    try:
        messages = split_messages(raw)
    except DecodeError as error:
        raise NotAFeed(f"not an HL7 v2 file: {error.message}") from None
    for message in messages:
        try:
            event = decoding(lambda text: decode_message(text, drop_test_traffic=False), message)
            key = event.encounter_key.encode() if event else None
        except DecodeError:
            key = None  # sent all the same: the consumer dead-letters it with its reason
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
    kind = type(document).__name__
    raise NotAFeed(f"a JSON {kind} that is not a feed message this service knows")


def _classified(path: Path) -> Iterator[tuple[str, bytes | None, bytes]]:
    try:
        yield from classify(path.read_bytes())
    except NotAFeed as error:
        raise NotAFeed(f"{path}: {error}") from None


def replay(settings: Settings, paths: Iterable[Path]) -> Counter[str]:
    """Send every message of every file; returns the count per topic. Every file is read and
    classified before anything is sent: a file that is no feed stops the replay with its
    reason, not half-way through."""
    messages = [message for path in paths for message in _classified(path)]
    producer = connect(KafkaProducer, settings.kafka, acks="all", linger_ms=5)
    sent: Counter[str] = Counter()
    try:
        for name, key, value in messages:
            producer.send(settings.kafka.topic(name), key=key, value=value)
            sent[name] += 1
        producer.flush()
    finally:
        producer.close()
    return sent
