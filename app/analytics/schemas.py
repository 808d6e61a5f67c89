"""Responses of the analytics API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.analytics.spc import Assurance, Direction, PointType


class SpcPoint(BaseModel):
    day: str = Field(description="Local date (YYYY-MM-DD)")
    value: float
    mean: float
    lower: float = Field(description="Lower process limit")
    upper: float = Field(description="Upper process limit")
    type: PointType
    segment: int = Field(description="0, then one more at each rebase")


class SpcChart(BaseModel):
    """An XmR chart of one metric's daily series, by the Making Data Count rules
    (docs/analytics.md)."""

    scope: str
    metric: str
    series: str = Field(examples=["08:00 each day", "daily mean"])
    direction: Direction = Field(description="Which way is an improvement")
    variation: str = Field(
        description="The latest point's icon: common_cause, improvement_high/low, "
        "concern_high/low or neutral_high/low"
    )
    assurance: Assurance | None = Field(description="Against the target; None without one")
    target: float | None
    points: list[SpcPoint]
