"""Inbound topics (PRODUCT.md §3) and their partition counts; keys keep a spell on one partition."""

from __future__ import annotations

from app.config import KafkaSettings

ADT_HL7V2 = "adt.hl7v2"
ADT_FHIR = "adt.fhir"
AMBULANCE = "ambulance.events"
CAREHOME_BEDS = "carehome.beds"
DISCHARGE_STATUS = "discharge.status"

PARTITIONS: dict[str, int] = {
    ADT_HL7V2: 6,
    ADT_FHIR: 3,
    AMBULANCE: 3,
    CAREHOME_BEDS: 3,
    DISCHARGE_STATUS: 3,
}


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def all_topics(kafka: KafkaSettings) -> dict[str, int]:
    """Every inbound topic and its dead-letter topic, with partition counts."""
    names = {kafka.topic(name): count for name, count in PARTITIONS.items()}
    return names | {dead_letter_topic(name): 1 for name in names}
