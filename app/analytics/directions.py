"""Which way is better, for every catalogue metric an SPC chart may be drawn of (issue #18)."""

from __future__ import annotations

from app.analytics.spc import Direction
from app.catalogue import is_metric

LOWER_IS_BETTER = (
    "beds.occupancy_pct", "beds.escalation_open", "beds.escalation_pct", "beds.unavailable",
    "beds.closed", "ed.in_department", "ed.over_4h", "ed.over_12h", "ed.dta_waiting",
    "ed.dta_over_4h", "ed.dta_over_12h", "ed.breaches_today", "ed.over_12h_pct",
    "ed.occupancy_pct", "ed.majors_resus_occupancy_pct", "ambulance.waiting",
    "ambulance.handover_mean_minutes", "ambulance.handover_p90_minutes", "ambulance.hours_lost",
    "ambulance.handover_to_clear_mean_minutes", "discharges.nctr", "discharges.nctr_pct",
    "discharges.longest_days_delayed", "opel.score", "opel.computed_level",
)  # fmt: skip
HIGHER_IS_BETTER = (
    "beds.free", "ed.four_hour_pct", "discharges.discharged_today", "discharges.before_noon_pct",
)  # fmt: skip


def direction(metric: str) -> Direction:
    """The improvement direction of a metric (neutral: demand, arrivals, counts of what is)."""
    if metric in LOWER_IS_BETTER or _breakdown_of(metric, "ambulance.waiting_over"):
        return Direction.DECREASE
    if metric in HIGHER_IS_BETTER:
        return Direction.INCREASE
    return Direction.NEUTRAL


def _breakdown_of(metric: str, group: str) -> bool:
    return metric.startswith(group + ".") and is_metric(metric)
