"""Webhook requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from app.changes import JsonObject
from app.fields import Code

Event = Literal["opel.changed", "opel.declared"]
ALL_EVENTS: list[Event] = ["opel.changed", "opel.declared"]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(examples=["https://ics.example.nhs.uk/hooks/opel"])
    events: list[Event] = Field(
        default_factory=lambda: list(ALL_EVENTS), min_length=1, max_length=2
    )
    scopes: list[Code] = Field(
        default_factory=list,
        max_length=50,
        description="Site codes or the economy code; empty: every scope",
        examples=[["RAN01", "QAB"]],
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    scopes: list[str]
    active: bool
    created_by: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verify X-FlowCC-Signature with it")


class DeliveryOut(BaseModel):
    id: int
    event: str
    payload: JsonObject
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_before_id: int | None
