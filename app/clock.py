"""The engine's clock: injectable, so tests (and the demo's test endpoint) control time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Time stands still until a test (or an operator in a non-production mode) moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


class OffsetClock:
    """The system clock shifted by an offset that can be moved forward (development mode)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.offset = (start - datetime.now(UTC)) if start else timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> datetime:
        self.offset += delta
        return self.now()


def local_midnight(now: datetime) -> datetime:
    """Midnight of today in Europe/London, as an aware UTC datetime ("since midnight")."""
    local = now.astimezone(LONDON)
    return datetime(local.year, local.month, local.day, tzinfo=LONDON).astimezone(UTC)


def next_local_midnight(now: datetime) -> datetime:
    """The next midnight in Europe/London after ``now`` (23 or 25 hours away on clock-change
    days), as an aware UTC datetime."""
    return local_midnight(local_midnight(now) + timedelta(hours=26))


def local_noon(now: datetime) -> datetime:
    """Noon of today in Europe/London, as an aware UTC datetime."""
    local = now.astimezone(LONDON)
    return datetime(local.year, local.month, local.day, 12, tzinfo=LONDON).astimezone(UTC)


def calendar_days(since: datetime, now: datetime) -> int:
    """Whole calendar days in Europe/London from ``since``'s date to ``now``'s date."""
    return (now.astimezone(LONDON).date() - since.astimezone(LONDON).date()).days
