"""The feed conformance report: what an integration engineer reads during a go-live."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FeedStats(BaseModel):
    source: str = Field(description="The sending facility (MSH-4) or FHIR meta.source")
    events: int = Field(description="ADT events stored (applied) in the period")
    by_trigger: dict[str, int]
    by_version: dict[str, int] = Field(description="MSH-12 (empty for FHIR)")
    by_processing_id: dict[str, int] = Field(description="MSH-11 of what was applied")
    dropped: dict[str, int] = Field(
        description="Not applied by the feed's processing-id policy (all time), by MSH-11"
    )
    duplicates: int = Field(description="Retries of a message already applied (all time)")
    imputed_times: int = Field(description="Events timed by EVN-2/MSH-7 or a date-only time")
    imprecise_times: int = Field(description="Events known only to the day or the hour")
    out_of_order: int = Field(description="Events that arrived after a later one of their spell")
    out_of_order_pct: float | None
    location_codes: int = Field(description="Distinct unmapped location codes (all time)")
    location_messages: int
    held_in_exception: int = Field(description="Messages whose spell still waits for a mapping")


class FeedReport(BaseModel):
    since: datetime
    sources: list[FeedStats]
    dead_letters: dict[str, dict[str, int]] = Field(
        description="Per topic and reason: a message that did not decode names no sender"
    )
