"""The simulator's ground truth (issue #14): what every bed, ED attendance, discharge plan and
ambulance of the simulated economy IS at an instant — as the PAS records it, an entry made in
error included until it is corrected — computed with the board's own definitions, so a test can
compare the service's figures with it exactly, hour by hour. ``flowcc simulate --truth FILE``
writes it too (JSON Lines, one record per simulated hour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.clock import local_midnight
from app.flow.facts import ED_HORIZON, QUEUE_HORIZON, ed_area

FOUR_HOURS = timedelta(hours=4)


def recorded(at: datetime) -> datetime:
    """A time as the feeds record it: to the second (a stay of 3:59:59.6 sent as 04:00:00 is
    four hours on the record, and the record is the truth the board is judged by)."""
    return at.replace(microsecond=0)


@dataclass
class Attendance:
    arrived: datetime
    area: str
    departed: datetime | None = None
    decided: datetime | None = None  # the decision to admit (A14)
    admitted: bool = False  # left ED for a bed


@dataclass
class BedTruth:
    unit: str
    spell: str | None = None
    closed: bool = False


@dataclass
class SiteTruth:
    """One acute site, kept by its Hospital (beds, ED) and Journeys (discharges, ambulances)."""

    site: str
    beds: dict[str, BedTruth] = field(default_factory=dict)  # by bed id
    attendances: dict[str, Attendance] = field(default_factory=dict)  # by visit
    ready: dict[str, datetime] = field(default_factory=dict)  # spell → discharge-ready time
    arrivals: dict[str, datetime] = field(default_factory=dict)  # incident → arrived
    handed_over: dict[str, datetime] = field(default_factory=dict)  # incident → handed over
    authority: dict[str, str] = field(default_factory=dict)  # spell ready → local authority

    # ------------------------------------------------------------------ recording

    def bed(self, bed_id: str, unit: str) -> None:
        self.beds[bed_id] = BedTruth(unit)

    def occupy(self, bed_id: str, spell: str | None) -> None:
        self.beds[bed_id].spell = spell

    def close(self, bed_id: str, closed: bool) -> None:
        self.beds[bed_id].closed = closed

    def arrive(self, visit: str, at: datetime, area: str) -> None:
        self.attendances[visit] = Attendance(recorded(at), area)

    def leave_ed(self, visit: str, at: datetime, *, admitted: bool = False) -> None:
        self.attendances[visit].departed = recorded(at)
        self.attendances[visit].admitted = admitted

    def decide(self, visit: str, at: datetime) -> None:
        self.attendances[visit].decided = recorded(at)

    def ambulance_arrived(self, incident: str, at: datetime) -> None:
        self.arrivals[incident] = recorded(at)

    def cancel_attendance(self, visit: str) -> None:
        self.attendances.pop(visit, None)

    def forget_before(self, at: datetime) -> None:
        """Drop what ended before ``at`` (a long run keeps only what its figures can see)."""
        self.attendances = {
            v: a for v, a in self.attendances.items() if a.departed is None or a.departed >= at
        }
        self.arrivals = {i: t for i, t in self.arrivals.items() if t >= at}
        self.handed_over = {i: t for i, t in self.handed_over.items() if t >= at}

    # ------------------------------------------------------------------ the figures

    def handover_mean_minutes(self, now: datetime) -> float | None:
        """The mean arrival-to-handover time of the handovers since local midnight."""
        midnight = local_midnight(now)
        times = [
            (done - self.arrivals[incident]).total_seconds() / 60
            for incident, done in self.handed_over.items()
            if midnight <= done <= now and incident in self.arrivals
        ]
        return sum(times) / len(times) if times else None

    def nctr_by_authority(self, now: datetime) -> dict[str, int]:
        in_beds = {bed.spell for bed in self.beds.values() if bed.spell}
        counts: dict[str, int] = {}
        for spell, ready in self.ready.items():
            if spell in in_beds and ready <= now:
                la = self.authority.get(spell, "unknown")
                counts[la] = counts.get(la, 0) + 1
        return counts

    # Values of any type: one JSON Lines record of ground truth (compared figure by figure).
    def snapshot(self, now: datetime) -> dict[str, Any]:
        wards: dict[str, dict[str, int]] = {}
        for bed in self.beds.values():
            counts = wards.setdefault(bed.unit, {"occupied": 0, "free": 0, "closed": 0})
            if bed.spell is not None:
                counts["occupied"] += 1
            elif bed.closed:
                counts["closed"] += 1
            else:
                counts["free"] += 1
        in_beds = {bed.spell for bed in self.beds.values() if bed.spell}
        return {
            "wards": dict(sorted(wards.items())),
            "ed": self._ed(now),
            "nctr": sum(1 for s, ready in self.ready.items() if s in in_beds and ready <= now),
            "ambulance_waiting": sum(
                1
                for incident, arrived in self.arrivals.items()
                if incident not in self.handed_over and now - QUEUE_HORIZON < arrived <= now
            ),
        }

    def _ed(self, now: datetime) -> dict[str, Any]:
        midnight = local_midnight(now)
        present = [
            a for a in self.attendances.values()
            if a.arrived <= now and (a.departed is None or a.departed > now)
            and a.arrived > now - ED_HORIZON
        ]  # fmt: skip
        left = [
            a for a in self.attendances.values()
            if a.departed is not None and midnight <= a.departed <= now
        ]  # fmt: skip
        within = sum(1 for a in left if (a.departed or a.arrived) - a.arrived <= FOUR_HOURS)
        over = sum(1 for a in present if now - a.arrived >= FOUR_HOURS)
        by_area: dict[str, int] = {}
        for attendance in present:
            name = ed_area(attendance.area)
            by_area[name] = by_area.get(name, 0) + 1
        judged = len(left) + over
        return {
            "in_department": len(present),
            "by_area": dict(sorted(by_area.items())),
            "departed_today": len(left),
            "four_hour_pct": round(within * 100 / judged, 2) if judged else None,
        }
