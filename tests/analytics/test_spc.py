"""SPC golden tests: the NHS-R community's NHSRplotthedots results, reproduced point by point.

The data and expected figures are that package's own (tests/testthat/test-ptd_spc_standard.R,
its snapshot _snaps/ptd_spc_standard.md, and test-ptd_calculate_point_type.R): R's
``set.seed(123); rnorm(20)``, and the rule functions' vectors.
"""

from __future__ import annotations

import pytest

from app.analytics.spc import (
    Assurance,
    Direction,
    PointType,
    part_of_run,
    run_of_seven,
    seven_point_trend,
    two_in_three,
    xmr,
)

# R 4.x: set.seed(123); rnorm(20)
RNORM_123 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774, 1.71506499, 0.46091621,
    -1.26506123, -0.68685285, -0.44566197, 1.22408180, 0.35981383, 0.40077145, 0.11068272,
    -0.55584113, 1.78691314, 0.49785048, -1.96661716, 0.70135590, -0.47279141,
]  # fmt: skip


def _limits(values: list[float], *, screen_outliers: bool = True) -> tuple[float, float, float]:
    point = xmr(values, Direction.INCREASE, screen_outliers=screen_outliers).points[0]
    return point.mean, point.lower, point.upper


def _published(*figures: float) -> object:
    """As printed by R (7 significant figures)."""
    return pytest.approx(figures, abs=5e-6)


def test_limits_as_ptd_spc_standard() -> None:
    assert _limits(RNORM_123) == _published(0.1416238, -3.01138, 3.294627)


def test_an_outlier_is_screened_out_of_the_moving_range_and_only_then() -> None:
    with_outlier = [*RNORM_123[:14], 10.0, *RNORM_123[15:]]
    assert _limits(with_outlier) == _published(0.6694159, -2.383666, 3.722497)
    assert _limits(with_outlier, screen_outliers=False) == _published(
        0.6694159, -4.596625, 5.935457
    )


def test_each_point_on_its_side_of_the_mean_as_published() -> None:
    chart = xmr(RNORM_123, Direction.INCREASE)
    sides = [1 if p.value > p.mean else -1 for p in chart.points]
    assert sides[:15] == [-1, -1, 1, -1, -1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1]
    assert all(p.type == PointType.COMMON for p in chart.points)  # "20 common cause"
    assert chart.variation == "common_cause"


def test_limits_fixed_after_a_baseline_and_rebased() -> None:
    whole, fixed = xmr(RNORM_123), xmr(RNORM_123, fix_after=12)
    assert fixed.points[0].lower != whole.points[0].lower
    assert fixed.points[0].mean == pytest.approx(sum(RNORM_123[:12]) / 12)
    rebased = xmr(RNORM_123, rebase_at=[10])
    assert [p.segment for p in rebased.points] == [0] * 10 + [1] * 10
    assert rebased.points[10].mean == pytest.approx(sum(RNORM_123[10:]) / 10)


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        ([], []),
        ([1] * 6, [0] * 6),
        ([1] * 6 + [-1], [0] * 7),
        ([1] * 8 + [-1], [0, 0, 0, 0, 0, 0, 1, 1, 0]),
        ([-1] * 8 + [1], [0, 0, 0, 0, 0, 0, 1, 1, 0]),
        ([-1] + [1] * 8 + [-1], [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]),
    ],
)
def test_seven_points_one_side_of_the_mean(side: list[int], expected: list[int]) -> None:
    assert run_of_seven(side) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([1, 2, 3, 4, 5, 6], [0] * 6),
        ([1, 2, 3, 3, 4, 5, 6], [0] * 7),
        ([1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 0, 0, 1]),
        ([2, 1, 2, 3, 4, 5, 6, 7, 3], [0, 0, 0, 0, 0, 0, 0, 1, 0]),
        ([7, 6, 5, 4, 3, 2, 1], [0, 0, 0, 0, 0, 0, -1]),
        ([2, 7, 6, 5, 4, 3, 2, 1, 3], [0, 0, 0, 0, 0, 0, 0, -1, 0]),
    ],
)
def test_seven_point_trend(values: list[float], expected: list[int]) -> None:
    assert seven_point_trend(values) == expected


def test_part_of_a_run_of_seven() -> None:
    assert part_of_run([0] * 6) == [False] * 6
    assert part_of_run([0, 0, 0, 0, 0, 0, 0, 1, 0]) == [False] + [True] * 7 + [False]


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        ([], []),
        ([0, 0, 0], [0, 0, 0]),
        ([1, 0, 1], [1, 1, 1]),
        ([0, 1, 1], [1, 1, 1]),
        ([1, 1, 0], [1, 1, 1]),
        ([0, 0, 1, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0, 0]),
        ([0, 0, 1, 1, 0, 0, 0], [0, 1, 1, 1, 1, 0, 0]),
        ([1, 0, 0, 1], [0, 0, 0, 0]),
        ([1, 0, 0, 1, 1], [0, 0, 1, 1, 1]),
    ],
)
def test_two_in_three(close: list[int], expected: list[int]) -> None:
    assert two_in_three(close) == expected


def test_two_of_three_close_to_the_limits_count_only_on_the_same_side() -> None:
    """NHSRplotthedots: symmetrical data with two successive points close to the limits on
    opposite sides of the mean: both common cause."""
    values = [1.0, -1.0] * 7 + [5.5, -5.5]
    types = [p.type for p in xmr(values, Direction.INCREASE).points]
    assert types[-2:] == [PointType.COMMON, PointType.COMMON]
    same_side = [1.0, -1.0] * 7 + [5.5, 5.0]
    assert {p.type for p in xmr(same_side, Direction.INCREASE).points[-2:]} == {
        PointType.IMPROVEMENT
    }


def test_special_cause_by_direction_and_the_icons() -> None:
    rising = [float(v) for v in [5, 5, 6, 5, 5, 6, 5, 6, 7, 8, 9, 10, 11, 12]]
    up = xmr(rising, Direction.INCREASE, fix_after=8)
    assert up.points[-1].type == PointType.IMPROVEMENT
    assert up.variation == "improvement_high"
    down = xmr(rising, Direction.DECREASE, fix_after=8)
    assert down.points[-1].type == PointType.CONCERN
    assert down.variation == "concern_high"
    assert xmr(rising, fix_after=8).variation == "neutral_high"


def test_assurance_against_a_target() -> None:
    chart = xmr([90.0, 92, 91, 93, 90, 92, 91, 90], Direction.INCREASE)
    assert chart.assurance(80) == Assurance.PASS
    assert chart.assurance(99) == Assurance.FAIL
    assert chart.assurance(91) == Assurance.HIT_OR_MISS
    assert xmr([90.0, 92, 91], Direction.DECREASE).assurance(99) == Assurance.PASS
    assert chart.assurance(None) is None
