"""Request bodies and responses of the flow API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.catalogue import SiteMetrics
from app.escalation.schemas import OpelView
from app.fields import Timestamp


class ClockAdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(gt=0, le=7 * 24 * 60, examples=[30])


class ClockOut(BaseModel):
    now: Timestamp
    offset_seconds: float | None = Field(description="How far the offset clock is ahead")


class SamplePoint(BaseModel):
    at: Timestamp
    value: float | None


class MetricSamples(BaseModel):
    scope: str
    metric: str
    points: list[SamplePoint]


class SiteFlow(SiteMetrics):
    """A site's live metrics (the catalogue: app/catalogue.py) and its OPEL level."""

    as_of: Timestamp
    opel: OpelView | None
