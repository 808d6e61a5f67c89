"""OPEL arithmetic — pure, no I/O: parameter levels, weighted score, bands, hysteresis, roll-up.

Score (domain.md §1.6): pct = (Σ w·level − Σ w) / (3·Σ w) × 100 over the parameters that have a
value; the level is the band the score falls in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.changes import JsonObject
from app.escalation.profile import OpelProfile


@dataclass(frozen=True)
class Reading:
    id: str
    label: str
    value: float | None
    level: int | None
    weight: float

    def as_dict(self) -> JsonObject:
        return {
            "id": self.id,
            "label": self.label,
            "value": self.value,
            "level": self.level,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Assessment:
    readings: tuple[Reading, ...]
    score: float | None  # 0-100, None when no parameter has a value
    level: int | None

    @property
    def drivers(self) -> list[str]:
        """The parameters at the highest level reached: what drove the level."""
        levels = [r.level for r in self.readings if r.level is not None]
        if not levels or max(levels) == 1:
            return []
        return [r.id for r in self.readings if r.level == max(levels)]


def band(profile: OpelProfile, score: float) -> int:
    return 1 + sum(1 for bound in profile.score_bands if score >= bound)


def weighted_score(levels: Sequence[tuple[int, float]]) -> float | None:
    total = sum(weight for _, weight in levels)
    if total <= 0:
        return None
    return (sum(level * weight for level, weight in levels) - total) / (3 * total) * 100


def assess(profile: OpelProfile, numbers: Mapping[str, float]) -> Assessment:
    """Score a site from its metrics' numbers by catalogue path (``app.catalogue.numbers``)."""
    readings = []
    for parameter in profile.parameters:
        value = numbers.get(parameter.metric)
        level = None if value is None else parameter.level(value)
        readings.append(Reading(parameter.id, parameter.label, value, level, parameter.weight))
    score = weighted_score([(r.level, r.weight) for r in readings if r.level is not None])
    return Assessment(
        tuple(readings),
        None if score is None else round(score, 2),
        None if score is None else band(profile, score),
    )


@dataclass(frozen=True)
class LevelState:
    """A computed level after hysteresis, and since when the raw level has been lower."""

    level: int | None = None
    below_since: datetime | None = None


@dataclass(frozen=True)
class Step:
    state: LevelState
    changed: bool
    previous: int | None = None
    why: str = field(default="")


def step(profile: OpelProfile, state: LevelState, raw: int | None, now: datetime) -> Step:
    """Rise at once; drop only after the raw level has stayed lower for drop_after_minutes."""
    if raw is None:
        return Step(LevelState(state.level, None), False)
    if state.level is None or raw > state.level:
        why = "first assessment" if state.level is None else "score rose into a higher band"
        return Step(LevelState(raw, None), True, state.level, why)
    if raw == state.level:
        return Step(LevelState(raw, None), False)
    below_since = state.below_since or now
    if now - below_since >= timedelta(minutes=profile.drop_after_minutes):
        why = f"score below the band for {profile.drop_after_minutes:g} min"
        return Step(LevelState(raw, None), True, state.level, why)
    return Step(LevelState(state.level, below_since), False)


def roll_up(profile: OpelProfile, sites: Sequence[tuple[str, float | None, float]]) -> Assessment:
    """The system level: site scores weighted by each site's configured weight. Each site is a
    reading (its score and the band it falls in), so the system level is explainable too."""
    readings = tuple(
        Reading(
            site,
            f"{site} score (weight {weight:g})",
            score,
            None if score is None else band(profile, score),
            weight,
        )
        for site, score, weight in sites
    )
    scored = [(r.value, r.weight) for r in readings if r.value is not None and r.weight > 0]
    total = sum(weight for _, weight in scored)
    if total <= 0:
        return Assessment(readings, None, None)
    score = sum(value * weight for value, weight in scored) / total
    return Assessment(readings, round(score, 2), band(profile, score))
