"""Dates for tests, always derived from when the suite runs — never a calendar date.

A test that writes a calendar date passes until the day some horizon ("the last 24 hours",
"since midnight", a token's expiry) moves past it, and then fails on every run. So:

- A service on the **system clock** gets events dated a little before now: ``T0`` (the start
  of the run's minute, one hour ago) plus offsets.
- A service on a **fixed clock** (``clock="fixed"``, ``ManualClock``) gets a day chosen relative
  to now by :func:`gmt_midnight`: a recent day on which Europe/London keeps GMT across the whole
  scenario, so "local midnight" is 00:00 UTC and no clock change falls inside (the scenarios'
  expected numbers are written for that), optionally on a given weekday.

``tests/test_no_calendar_dates.py`` fails when a test or benchmark writes a calendar date.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.clock import LONDON

RUN_STARTED = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = RUN_STARTED - timedelta(hours=1)
MONDAY, WEDNESDAY = 0, 2


def minutes_ago(minutes: float) -> datetime:
    """A moment before the run started, for a service on the system clock."""
    return RUN_STARTED - timedelta(minutes=minutes)


def gmt_midnight(
    *,
    weekday: int | None = None,
    days_before: int = 14,
    days_after: int = 3,
    latest: datetime | None = None,
) -> datetime:
    """00:00 UTC of the most recent day before ``latest`` (default: the run's start) that is
    on ``weekday`` (Monday = 0) if given, and around which London keeps GMT from ``days_before``
    days before to ``days_after`` days after (searching back into last winter if need be)."""
    day = (latest or RUN_STARTED).replace(hour=0, minute=0, second=0, microsecond=0)
    day -= timedelta(days=1)
    for _ in range(800):
        if (weekday is None or day.weekday() == weekday) and _gmt_throughout(
            day - timedelta(days=days_before), day + timedelta(days=days_after)
        ):
            return day
        day -= timedelta(days=1)
    raise AssertionError("no GMT day in the last two years: Europe/London's rules changed?")


def _gmt_throughout(start: datetime, end: datetime) -> bool:
    moment = start
    while moment <= end:
        if moment.astimezone(LONDON).utcoffset() != timedelta(0):
            return False
        moment += timedelta(hours=6)
    return end.astimezone(LONDON).utcoffset() == timedelta(0)
