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


class ForecastWindow(BaseModel):
    """Admissions and discharges in the next ``hours``, as probabilities."""

    hours: int
    expected_admissions: float
    admissions_at_least_90: int = Field(description="At least this many, with 90 % probability")
    admissions_at_least_70: int = Field(description="At least this many, with 70 % probability")
    admissions_distribution: list[float] = Field(description="P(admissions = n), n = 0, 1, …")
    from_ed: float = Field(description="Expected admissions of those in ED now")
    from_arrivals: float = Field(description="… of those yet to arrive")
    from_en_route: float = Field(description="… of ambulances on their way")
    expected_discharges: float
    free_beds_now: int
    expected_balance: float = Field(description="Free beds now + discharges − admissions")
    p_short: float = Field(description="P(more admissions than free beds and discharges)")


class BedForecast(BaseModel):
    """A site's bed demand ahead (docs/analytics.md: the model and what it rests on)."""

    site: str
    as_of: str
    windows: list[ForecastWindow]
    history_attendances: int = Field(description="Past ED attendances the shares come from")
    history_days: float
    in_ed: int
    en_route: int
    on_time_discharge_share: float
    opel_level_now: int | None = Field(description="The level the site's numbers score now (raw)")
    opel_rise_4h: float | None = Field(
        description="P(the next OPEL level within 4 h) if only bed occupancy moves as forecast; "
        "None at level 4 or before the first evaluation"
    )
