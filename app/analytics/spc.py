"""Statistical process control the NHS way (NHS England "Making Data Count"): XmR charts with
the four special-cause rules, variation and assurance icons. Pure, no I/O (issue #18).

Definitions (docs/analytics.md), as the NHS-R community's NHSRplotthedots computes them — the
golden tests reproduce its published results point by point:

- centre line: the mean of the baseline points (all, or the first ``fix_after`` of each
  segment; a rebase starts a new segment with its own baseline);
- limits: mean ± 2.66 × the mean moving range; with outlier screening (the default), moving
  ranges above 3.267 × their mean are left out and the mean moving range recomputed;
- special cause, each point: (1) outside the limits; (2) part of a run of 7 or more on one side
  of the mean; (3) part of a run of 7 or more each higher (or each lower) than the one before;
  (4) part of 2 of 3 consecutive points beyond 2σ (two thirds of the way to a limit) on the same
  side;
- a special-cause point is an improvement or a concern by the metric's improvement direction
  (or neutral when higher is neither better nor worse);
- assurance, against a target: the limits both on the right side of it (consistently passes),
  both on the wrong side (consistently fails), or astride it (hit or miss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from statistics import fmean

LIMIT = 2.66  # 3 sigma, from the mean moving range
CLOSE = 2 * LIMIT / 3  # 2 sigma
SCREEN = 3.267  # a moving range above this × the mean is an outlier (screened out)


class Direction(StrEnum):
    INCREASE = "increase"  # higher is better
    DECREASE = "decrease"  # lower is better
    NEUTRAL = "neutral"


class PointType(StrEnum):
    COMMON = "common_cause"
    IMPROVEMENT = "special_cause_improvement"
    CONCERN = "special_cause_concern"
    NEUTRAL = "special_cause_neutral"


class Assurance(StrEnum):
    PASS = "consistent_pass"
    FAIL = "consistent_fail"
    HIT_OR_MISS = "inconsistent"


@dataclass(frozen=True)
class Point:
    value: float
    mean: float
    lower: float  # lower process limit
    upper: float  # upper process limit
    type: PointType
    segment: int  # 0, then one more at each rebase


@dataclass(frozen=True)
class XmR:
    points: tuple[Point, ...]
    direction: Direction

    @property
    def variation(self) -> str:
        """The variation icon (of the latest point): common_cause, or improvement/concern/
        neutral with high/low (which side of the mean it is)."""
        if not self.points or self.points[-1].type == PointType.COMMON:
            return "common_cause"
        last = self.points[-1]
        kind = last.type.value.removeprefix("special_cause_")
        return f"{kind}_{'high' if last.value > last.mean else 'low'}"

    def assurance(self, target: float | None) -> Assurance | None:
        """The assurance icon against a target, from the latest limits (None: no target, or
        no direction to judge it by)."""
        if target is None or not self.points or self.direction == Direction.NEUTRAL:
            return None
        last = self.points[-1]
        above, below = last.lower > target, last.upper < target
        if not (above or below):
            return Assurance.HIT_OR_MISS
        good = above if self.direction == Direction.INCREASE else below
        return Assurance.PASS if good else Assurance.FAIL


def xmr(
    values: Sequence[float],
    direction: Direction = Direction.NEUTRAL,
    *,
    fix_after: int | None = None,
    rebase_at: Sequence[int] = (),
    screen_outliers: bool = True,
) -> XmR:
    """An XmR chart of these values (in time order). ``rebase_at``: indices where a new segment
    (new limits) starts; ``fix_after``: limits from each segment's first N points only."""
    starts = sorted({0, *(i for i in rebase_at if 0 < i < len(values))})
    points: list[Point] = []
    for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(values)], strict=True)):
        points += _segment(values[start:end], number, direction, fix_after, screen_outliers)
    return XmR(tuple(points), direction)


def _segment(
    values: Sequence[float],
    number: int,
    direction: Direction,
    fix_after: int | None,
    screen: bool,
) -> list[Point]:
    if not values:
        return []
    lower, mean, upper, near = _limits(values[: fix_after or len(values)], screen)
    side = [_sign(v - mean) for v in values]
    outside = [v > upper or v < lower for v in values]
    close = [not out and abs(v - mean) > near for v, out in zip(values, outside, strict=True)]
    special = special_cause(values, side, close, outside)
    return [
        Point(v, mean, lower, upper, _type(flag, s, direction), number)
        for v, s, flag in zip(values, side, special, strict=True)
    ]


def _limits(baseline: Sequence[float], screen: bool) -> tuple[float, float, float, float]:
    """Lower limit, mean, upper limit, and the distance from the mean that is "close" (2σ)."""
    mean = fmean(baseline)
    ranges = [abs(b - a) for a, b in pairwise(baseline)]
    if not ranges:
        return mean, mean, mean, 0.0
    average = fmean(ranges)
    if screen:
        kept = [r for r in ranges if r <= SCREEN * average]
        average = fmean(kept) if kept else average
    return mean - LIMIT * average, mean, mean + LIMIT * average, CLOSE * average


def _type(special: bool, side: int, direction: Direction) -> PointType:
    if not special:
        return PointType.COMMON
    if direction == Direction.NEUTRAL:
        return PointType.NEUTRAL
    better = 1 if direction == Direction.INCREASE else -1
    return PointType.IMPROVEMENT if side == better else PointType.CONCERN


def special_cause(
    values: Sequence[float], side: Sequence[int], close: Sequence[bool], outside: Sequence[bool]
) -> list[bool]:
    """Each point: special cause by any of the four rules."""
    shift = part_of_run(run_of_seven(side))
    trend = part_of_run(seven_point_trend(values))
    signed = [s if c else 0 for s, c in zip(side, close, strict=True)]
    near = [bool(t) and c for t, c in zip(two_in_three(signed), close, strict=True)]
    return [any(rule) for rule in zip(outside, shift, trend, near, strict=True)]


def run_of_seven(side: Sequence[int]) -> list[int]:
    """1 at each point that is the 7th or later of a run on one side of the mean."""
    flags, run = [], 0
    for i, s in enumerate(side):
        run = run + 1 if i and s == side[i - 1] else 1
        flags.append(1 if run >= 7 and s != 0 else 0)
    return flags


def seven_point_trend(values: Sequence[float]) -> list[int]:
    """±1 at each point that ends 7 or more points each higher (+1) or lower (−1) than the one
    before; 0 elsewhere. An equal pair breaks the run."""
    flags, run, last = [0] * len(values), 0, 0
    for i in range(1, len(values)):
        step = _sign(values[i] - values[i - 1])
        run = run + 1 if step == last and step != 0 else (1 if step else 0)
        last = step
        if run >= 6:
            flags[i] = step
    return flags


def part_of_run(flags: Sequence[int]) -> list[bool]:
    """Each point that is one of the 7 ending at a flagged point (the run it belongs to)."""
    return [any(flags[i : i + 7]) for i in range(len(flags))]


def two_in_three(signed_close: Sequence[int]) -> list[int]:
    """1 at each point of a window of 3 consecutive points with at least 2 close to a limit on
    the same side (``signed_close``: +1 close above, −1 close below, 0 not close)."""
    flags = [0] * len(signed_close)
    for i in range(len(signed_close) - 2):
        if abs(sum(signed_close[i : i + 3])) >= 2:
            flags[i : i + 3] = [1, 1, 1]
    return flags


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)
