"""API shapes for ingest and dead letters."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.ingest.models import DeadLetter
from app.ingest.redact import redacted

IngestKind = Literal["hl7v2", "fhir", "ambulance", "carehome", "discharge"]


class IngestAccepted(BaseModel):
    topic: str
    partition: int
    offset: int
    events: int = Field(description="Events the payload decoded to (a batch may hold several)")


class DeadLetterRead(BaseModel):
    """What failed and why, and the message with its people masked (app/ingest/redact.py).
    The message as received carries patients' identifiers: it is read one at a time by an
    admin, audited (``GET /api/v1/dead-letters/{id}``)."""

    id: int
    topic: str
    partition: int
    offset: int
    error_kind: str
    error_message: str
    first_seen: datetime
    resubmitted_at: datetime | None
    size_bytes: int
    sha256: str = Field(description="Of the message as received: match it to the sender's log")
    redacted: str = Field(
        description="The message with patients' and staff's identifiers masked, separators "
        "kept (HL7 v2: MSH whole, PV1 without doctors or visit numbers, PID/NK1/… only their "
        "set ID); at most 4,000 characters"
    )

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterRead:
        return cls(
            id=letter.id,
            topic=letter.topic,
            partition=letter.partition,
            offset=letter.offset,
            error_kind=letter.error_kind,
            error_message=letter.error_message,
            first_seen=letter.first_seen,
            resubmitted_at=letter.resubmitted_at,
            size_bytes=len(letter.raw),
            sha256=hashlib.sha256(letter.raw).hexdigest(),
            redacted=redacted(letter.raw),
        )


class DeadLetterWhole(DeadLetterRead):
    raw_base64: str = Field(description="The message exactly as received, every byte, base64")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterWhole:
        read = DeadLetterRead.of(letter).model_dump()
        return cls(**read, raw_base64=base64.b64encode(letter.raw).decode())


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    next_cursor: int | None = Field(description="Pass as ?after= for the next page")
