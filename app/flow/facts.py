"""The raw facts of one site at one instant, as the flow engine reads them (from the database:
FlowRepository; from memory: app/flow/live.py) — data only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# A vehicle still "waiting" a day after arrival is a lost handover message, not a queue.
QUEUE_HORIZON = timedelta(hours=24)
# A patient "in ED" two days after arrival is a lost discharge or admission message: counted
# apart (in_department_stale), never in the department's figures.
ED_HORIZON = timedelta(hours=48)
NOT_NCTR = ("not_ready", "discharged", "cancelled")
GA_CARE = "general_and_acute"


@dataclass(frozen=True)
class QueuedJourney:
    """A vehicle at the door, not yet handed over."""

    incident_id: str
    vehicle: str | None
    category: int
    arrived_at: datetime | None


@dataclass(frozen=True)
class DischargeFacts:
    nctr: Sequence[tuple[str | None, str | None, str | None, datetime]]  # pathway, reason, LA
    expected_today: int


@dataclass(frozen=True)
class SiteFacts:
    unit_counts: dict[str, int]
    ed_spaces: int
    ed_waiting: Sequence[tuple[datetime, datetime | None]]  # (arrival, decision to admit)
    ed_areas: dict[str, int]  # patients in ED by area (resus, majors, ...)
    ed_area_spaces: dict[str, int]
    ed_stale: int
    ed_arrivals: Sequence[datetime]  # arrivals within the last hour
    ed_departures: Sequence[tuple[datetime, datetime]]  # (arrival, departure) since midnight
    queue: Sequence[QueuedJourney]
    en_route: int
    handovers: Sequence[tuple[datetime, datetime, datetime | None]]  # arrived, handover, clear
    nctr: Sequence[tuple[str | None, str | None, str | None, datetime]]  # pathway, reason, LA
    discharged_today: Sequence[datetime]
    expected_today: int


AREA_NAMES = (("resus", "resus"), ("res", "resus"), ("maj", "majors"), ("min", "minors"),
              ("sdec", "sdec"), ("utc", "utc"), ("urgent", "utc"), ("paed", "paediatrics"),
              ("triage", "triage"), ("rat", "triage"))  # fmt: skip


def ed_area(text: str | None) -> str:
    """A sender's ED area code as the economy names areas: RES/RESUS → resus, MAJ or
    "05-NON COVID MAJORS" → majors, MIN → minors, RAT/TRIAGE → triage ..."""
    if not text:
        return "unknown"
    lowered = text.lower()
    for word in lowered.replace("-", " ").split():
        for prefix, name in AREA_NAMES:
            if word.startswith(prefix):
                return name
    return lowered[:40]


def by_area(areas: Iterable[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for area in areas:
        name = ed_area(area)
        counts[name] = counts.get(name, 0) + 1
    return counts
