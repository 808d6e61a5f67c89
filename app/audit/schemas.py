"""Responses of the audit API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.changes import JsonObject
from app.fields import Timestamp


class AuditEntryOut(BaseModel):
    id: int
    at: Timestamp
    actor: str
    role: str
    action: str = Field(examples=["read_identity", "dead_letter.read", "discharge.status_update"])
    resource: str
    # What the action concerned, by action (JSON as recorded: its keys vary with the action).
    detail: JsonObject


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: int | None = Field(description="Pass as ?after= for the next page")
