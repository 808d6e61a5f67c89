"""Site metrics from a site's facts at one instant — pure, no I/O (PRODUCT.md §4, domain.md §8).

Besides the numbers, each computation returns when its answer next changes with time alone (a
vehicle crossing 30 minutes, a patient crossing 4 hours in ED, an arrival leaving the last-hour
window, midnight). The engine recomputes a site only at those instants or when an event for it
commits — never on a timer for its own sake.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.catalogue import (
    AmbulanceMetrics,
    BedsMetrics,
    DischargeMetrics,
    EdMetrics,
    QueuedAmbulance,
    SiteMetrics,
)
from app.clock import calendar_days, local_noon, next_local_midnight
from app.flow.facts import SiteFacts

HANDOVER_BANDS = (15, 30, 45, 60)  # minutes (domain.md §2.3)
MAJORS_RESUS = ("majors", "resus")  # the OPEL parameter's ED areas (domain.md §1.3 #4)
FOUR_HOUR_DEFINITION = (
    "of attendances that left the department since midnight, and those still in it past 4 "
    "hours (already breaches): the share that left within 4 hours of arrival"
)
ED_BANDS = (4, 12)  # hours from arrival, and decision-to-admit trolley waits (domain.md §3)
DAYS_DELAYED_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0-1", 0, 2),
    ("2-6", 2, 7),
    ("7-13", 7, 14),
    ("14-20", 14, 21),
)


@dataclass(frozen=True)
class Computed:
    metrics: SiteMetrics
    next_change_at: datetime | None


class _Next:
    """The earliest future instant at which some threshold is crossed."""

    def __init__(self, now: datetime) -> None:
        self.now, self.at = now, None  # type: datetime, datetime | None

    def consider(self, when: datetime) -> None:
        if when > self.now and (self.at is None or when < self.at):
            self.at = when


def pct(part: float, whole: float) -> float | None:
    return round(part * 100 / whole, 2) if whole else None


def minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def band_of(waited_minutes: float, bands: Iterable[int] = HANDOVER_BANDS) -> int:
    """The highest threshold passed (0 if none): 15, 30, 45 or 60."""
    return max((b for b in bands if waited_minutes >= b), default=0)


def compute_site(
    facts: SiteFacts, *, now: datetime, midnight: datetime, hours_lost_after: float
) -> Computed:
    upcoming = _Next(now)
    upcoming.consider(next_local_midnight(now))  # 23 or 25 hours away on clock-change days
    metrics = SiteMetrics(  # what is computed is what the catalogue declares (validated)
        beds=_beds(facts.unit_counts),
        ed=_ed(facts, now, upcoming),
        ambulance=_ambulance(facts, now, upcoming, hours_lost_after),
        discharges=_discharges(facts, now, midnight, upcoming),
    )
    return Computed(metrics, upcoming.at)


def _beds(counts: dict[str, int]) -> BedsMetrics:
    open_beds, occupied = counts.get("open_beds", 0), counts.get("occupied", 0)
    return BedsMetrics(
        core_beds=counts.get("core_beds", 0),
        open=open_beds,
        occupied=occupied,
        free=counts.get("free", 0),
        closed=counts.get("closed", 0),
        unavailable=counts.get("unavailable", 0),
        escalation_open=counts.get("escalation_open", 0),
        virtual_occupied=counts.get("virtual_occupied", 0),
        occupancy_pct=pct(occupied, open_beds),
        escalation_pct=pct(counts.get("escalation_open", 0), open_beds),
    )


def _ed(facts: SiteFacts, now: datetime, upcoming: _Next) -> EdMetrics:
    arrivals = [row[0] for row in facts.ed_waiting]
    dtas = [row[1] for row in facts.ed_waiting if row[1] is not None]
    over = {h: sum(1 for a in arrivals if now - a >= timedelta(hours=h)) for h in ED_BANDS}
    trolley = {h: sum(1 for d in dtas if now - d >= timedelta(hours=h)) for h in ED_BANDS}
    for start in [*arrivals, *dtas]:
        for hours in ED_BANDS:
            upcoming.consider(start + timedelta(hours=hours))
    for arrived in facts.ed_arrivals:
        upcoming.consider(arrived + timedelta(hours=1))
    stays = [departed - arrived for arrived, departed in facts.ed_departures]
    within_4h = sum(1 for stay in stays if stay <= timedelta(hours=4))
    departed_over_12h = sum(1 for stay in stays if stay > timedelta(hours=12))
    # Still in the department past 4 h: already breaches, whenever they leave (domain.md §8).
    judged = len(stays) + over[4]
    majors_resus = sum(facts.ed_areas.get(area, 0) for area in MAJORS_RESUS)
    majors_resus_spaces = sum(facts.ed_area_spaces.get(area, 0) for area in MAJORS_RESUS)
    return EdMetrics(
        in_department=len(arrivals),
        by_area=dict(sorted(facts.ed_areas.items())),
        in_department_stale=facts.ed_stale,
        arrivals_last_hour=sum(1 for a in facts.ed_arrivals if now - a < timedelta(hours=1)),
        over_4h=over[4],
        over_12h=over[12],
        longest_arrived_at=_iso(min(arrivals, default=None)),
        dta_waiting=len(dtas),
        dta_over_4h=trolley[4],
        dta_over_12h=trolley[12],
        longest_dta_at=_iso(min(dtas, default=None)),
        departed_today=len(stays),
        four_hour_pct=pct(within_4h, judged),
        four_hour_definition=FOUR_HOUR_DEFINITION,
        breaches_today=len(stays) - within_4h,
        # Of today's leavers and those still in: the share more than 12 h from arrival (§8).
        over_12h_pct=pct(over[12] + departed_over_12h, len(arrivals) + len(stays)),
        spaces=facts.ed_spaces,
        occupancy_pct=pct(len(arrivals), facts.ed_spaces),
        majors_resus=majors_resus,
        majors_resus_spaces=majors_resus_spaces,
        majors_resus_occupancy_pct=pct(majors_resus, majors_resus_spaces),
    )


def _ambulance(
    facts: SiteFacts, now: datetime, upcoming: _Next, hours_lost_after: float
) -> AmbulanceMetrics:
    queue: list[QueuedAmbulance] = []
    bands: list[int] = []
    for journey in facts.queue:
        assert journey.arrived_at is not None
        waited = minutes(now - journey.arrived_at)
        bands.append(band_of(waited))
        for threshold in HANDOVER_BANDS:
            upcoming.consider(journey.arrived_at + timedelta(minutes=threshold))
        queue.append(
            QueuedAmbulance(
                incident_id=journey.incident_id,
                vehicle=journey.vehicle,
                category=journey.category,
                arrived_at=journey.arrived_at.isoformat(),
                band=bands[-1],
            )
        )
    durations = [minutes(handover - arrived) for arrived, handover, _ in facts.handovers]
    to_clear = [minutes(clear - handover) for _, handover, clear in facts.handovers if clear]
    return AmbulanceMetrics(
        waiting=len(queue),
        queue=queue,
        waiting_over={str(b): sum(1 for x in bands if x >= b) for b in HANDOVER_BANDS},
        en_route=facts.en_route,
        handovers_today=len(durations),
        handover_mean_minutes=_round(statistics.fmean(durations)) if durations else None,
        handover_p90_minutes=_round(_p90(durations)) if durations else None,
        handovers_over={str(b): sum(1 for d in durations if d > b) for b in HANDOVER_BANDS},
        hours_lost=_round(sum(max(0.0, d - hours_lost_after) for d in durations) / 60),
        hours_lost_after_minutes=hours_lost_after,
        handover_to_clear_mean_minutes=_round(statistics.fmean(to_clear)) if to_clear else None,
    )


def _discharges(
    facts: SiteFacts, now: datetime, midnight: datetime, upcoming: _Next
) -> DischargeMetrics:
    # Calendar days (London) since the discharge-ready date: ready yesterday evening is 1 day
    # this morning. They change at midnight, which the site already wakes for.
    days = [calendar_days(ready_at, now) for _, _, _, ready_at in facts.nctr]
    occupied = facts.unit_counts.get("occupied", 0)
    noon = local_noon(now)
    return DischargeMetrics(
        nctr=len(facts.nctr),
        nctr_pct=pct(len(facts.nctr), occupied),
        nctr_denominator="occupied G&A beds",
        by_pathway=_counts(row[0] or "unknown" for row in facts.nctr),
        by_reason=_counts(row[1] or "not recorded" for row in facts.nctr),
        by_local_authority=_counts(row[2] or "unknown" for row in facts.nctr),
        days_delayed={
            **{name: sum(1 for d in days if lo <= d < hi) for name, lo, hi in DAYS_DELAYED_BANDS},
            "21+": sum(1 for d in days if d >= 21),
        },
        longest_days_delayed=max(days, default=None),
        discharged_today=len(facts.discharged_today),
        expected_today=facts.expected_today,
        before_noon_pct=pct(
            sum(1 for d in facts.discharged_today if d < noon), len(facts.discharged_today)
        ),
    )


def _counts(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _p90(values: Sequence[float]) -> float:
    """The 90th centile, linear interpolation between closest ranks (as PostgreSQL's
    percentile_cont and numpy's default)."""
    ordered = sorted(values)
    rank = 0.9 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _round(value: float) -> float:
    return round(value, 2)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
