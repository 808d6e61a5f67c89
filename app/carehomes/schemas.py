"""Responses of the care-homes API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.fields import Timestamp


class HomeOut(BaseModel):
    """A care home with its latest report: beds it can admit to now, by bed type."""

    home: str
    name: str
    local_authority: str
    open: bool
    closure_reason: str | None
    reported_at: Timestamp
    stale: bool = Field(description="Reported more than 7 days ago: not matched")
    admittable: dict[str, int] = Field(examples=[{"nursing": 2}])


class CareHomesOut(BaseModel):
    as_of: Timestamp
    items: list[HomeOut]


class CareHomesView(BaseModel):
    """The ``carehomes:<la>`` board view: an authority's homes with their latest vacancies."""

    local_authority: str
    now: Timestamp
    homes: list[HomeOut]
