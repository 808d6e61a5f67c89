"""The metric catalogue: every number the engine computes for a site (PRODUCT.md §4), its type
and meaning, declared once (issue #19).

``app/flow/metrics.py`` builds a site's metrics and checks them against ``SiteMetrics`` (a key
missing, extra or of the wrong type fails there, in the tests); the OPEL profile's parameters
and the samples API name metrics by their dotted path (``ed.four_hour_pct``) and are checked
against ``metric_paths()`` (an unknown name is a startup error or a 422, never a parameter
silently left out of the score). Neutral: it imports nothing of the domains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from types import NoneType, UnionType
from typing import Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

Count = int
Percent = float | None  # None: no denominator yet (no open beds, nobody left ED today)
Minutes = float | None


class _Metrics(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BedsMetrics(_Metrics):
    core_beds: Count
    open: Count = Field(description="Open beds: core beds not closed, and escalation beds open")
    occupied: Count
    free: Count
    closed: Count
    unavailable: Count
    escalation_open: Count
    virtual_occupied: Count = Field(description="Virtual-ward patients (not in a bed)")
    occupancy_pct: Percent = Field(description="Occupied of open G&A beds")
    escalation_pct: Percent


class EdMetrics(_Metrics):
    in_department: Count
    by_area: dict[str, int]
    in_department_stale: Count = Field(description="Still shown but not heard of for 24 h")
    arrivals_last_hour: Count
    over_4h: Count
    over_12h: Count
    longest_arrived_at: str | None
    dta_waiting: Count = Field(description="Decided to admit, still in ED")
    dta_over_4h: Count
    dta_over_12h: Count
    longest_dta_at: str | None
    departed_today: Count
    four_hour_pct: Percent
    four_hour_definition: str
    breaches_today: Count
    over_12h_pct: Percent = Field(description="Of today's leavers and those still in: > 12 h")
    spaces: Count
    occupancy_pct: Percent
    majors_resus: Count
    majors_resus_spaces: Count
    majors_resus_occupancy_pct: Percent


class QueuedAmbulance(_Metrics):
    incident_id: str
    vehicle: str | None
    category: int
    arrived_at: str = Field(description="At the hospital (not yet handed over)")
    band: int = Field(description="The highest handover band passed: 0, 15, 30, 45 or 60 min")


class AmbulanceMetrics(_Metrics):
    waiting: Count
    queue: list[QueuedAmbulance]
    waiting_over: dict[str, int] = Field(description="By band in minutes: 15, 30, 45, 60")
    en_route: Count
    handovers_today: Count
    handover_mean_minutes: Minutes
    handover_p90_minutes: Minutes
    handovers_over: dict[str, int]
    hours_lost: float
    hours_lost_after_minutes: float
    handover_to_clear_mean_minutes: Minutes


class DischargeMetrics(_Metrics):
    nctr: Count = Field(description="People with no criteria to reside, still in a bed")
    nctr_pct: Percent
    nctr_denominator: str
    by_pathway: dict[str, int]
    by_reason: dict[str, int]
    by_local_authority: dict[str, int]
    days_delayed: dict[str, int]
    longest_days_delayed: int | None
    discharged_today: Count
    expected_today: Count
    before_noon_pct: Percent


class SiteMetrics(_Metrics):
    beds: BedsMetrics
    ed: EdMetrics
    ambulance: AmbulanceMetrics
    discharges: DischargeMetrics


def _numeric(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not NoneType]
        return bool(args) and all(a in (int, float) for a in args)
    return False


@cache
def metric_paths() -> frozenset[str]:
    """Every number a profile may score and the samples API may serve: ``group.field`` for a
    numeric field, ``group.field.*`` for a breakdown (``ambulance.waiting_over.30``)."""
    paths: set[str] = set()
    for group, field in SiteMetrics.model_fields.items():
        model = field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        for name, inner in model.model_fields.items():
            if _numeric(inner.annotation):
                paths.add(f"{group}.{name}")
            elif get_origin(inner.annotation) is dict:
                paths.add(f"{group}.{name}.*")
    return frozenset(paths)


# Sampled beside the site metrics (app/flow/evaluator.py): a scope's OPEL over time.
OPEL_SAMPLES = {"opel.score": "score", "opel.computed_level": "computed_level",
                "opel.raw_level": "raw_level"}  # fmt: skip


def is_sampled(path: str) -> bool:
    return is_metric(path) or path in OPEL_SAMPLES


def numbers(metrics: SiteMetrics) -> dict[str, float]:
    """Every number of a site's metrics by its catalogue path (``beds.occupancy_pct``,
    ``ambulance.waiting_over.30``): what OPEL scores and what is sampled. A metric with no value
    yet (a percentage with no denominator) is absent."""
    values: dict[str, float] = {}
    for group in SiteMetrics.model_fields:
        for name, value in getattr(metrics, group):
            if isinstance(value, dict):
                for key, inner in value.items():
                    values[f"{group}.{name}.{key}"] = float(inner)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                values[f"{group}.{name}"] = float(value)
    return values


def is_metric(path: str) -> bool:
    if path in metric_paths():
        return True
    head, _, key = path.rpartition(".")
    return bool(key) and f"{head}.*" in metric_paths()


# A scope above a site (the system's, a local authority's) is sampled from its sites' numbers.
SUMMED = ("beds.occupied", "beds.open", "beds.free", "ed.in_department", "ambulance.waiting",
          "discharges.nctr")  # fmt: skip


CADENCE_METRIC = "beds.open"  # in every sample of the system scope: when it was last sampled


def system_numbers(sites: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The whole system's numbers from its acute sites': the counts summed and the G&A
    occupancy of the summed beds (not a mean of the sites' percentages)."""
    values = dict.fromkeys(SUMMED, 0.0)
    for site in sites:
        for name in SUMMED:
            values[name] += site.get(name, 0.0)
    if values["beds.open"]:
        values["beds.occupancy_pct"] = round(100 * values["beds.occupied"] / values["beds.open"], 2)
    return values


def authority_numbers(sites: Iterable[Mapping[str, float]], authority: str) -> dict[str, float]:
    """A local authority's: its people with no criteria to reside, in every site's beds."""
    key = f"discharges.by_local_authority.{authority}"
    return {"discharges.nctr": sum(site.get(key, 0.0) for site in sites)}
