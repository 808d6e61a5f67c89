"""API shapes for ingest and dead letters."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

IngestKind = Literal["hl7v2", "fhir", "ambulance", "carehome", "discharge"]


class IngestAccepted(BaseModel):
    topic: str
    partition: int
    offset: int
    events: int = Field(description="Events the payload decoded to (a batch may hold several)")


class DeadLetterRead(BaseModel):
    id: int
    topic: str
    partition: int
    offset: int
    error_kind: str
    error_message: str
    first_seen: datetime
    resubmitted_at: datetime | None
    raw_base64: str = Field(description="The message exactly as received, base64-encoded")
    size_bytes: int

    @classmethod
    def of(cls, letter: object) -> DeadLetterRead:
        raw: bytes = letter.raw  # type: ignore[attr-defined]
        return cls(
            id=letter.id,  # type: ignore[attr-defined]
            topic=letter.topic,  # type: ignore[attr-defined]
            partition=letter.partition,  # type: ignore[attr-defined]
            offset=letter.offset,  # type: ignore[attr-defined]
            error_kind=letter.error_kind,  # type: ignore[attr-defined]
            error_message=letter.error_message,  # type: ignore[attr-defined]
            first_seen=letter.first_seen,  # type: ignore[attr-defined]
            resubmitted_at=letter.resubmitted_at,  # type: ignore[attr-defined]
            raw_base64=base64.b64encode(raw[:65536]).decode(),
            size_bytes=len(raw),
        )


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    next_cursor: int | None = Field(description="Pass as ?after= for the next page")
