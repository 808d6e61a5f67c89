"""The bed forecast's arithmetic: exact distributions (Poisson-binomial, Poisson, their
convolution), the quantiles the boards show, and the model's shares from a known history."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

from app.analytics.forecast import (
    History,
    InEd,
    Now,
    PastAttendance,
    at_least,
    convolve,
    forecast,
    poisson,
    poisson_binomial,
)
from tests.support.clock import T0


def test_poisson_binomial_is_exact() -> None:
    assert poisson_binomial([]) == [1.0]
    assert poisson_binomial([0.5, 0.5]) == pytest.approx([0.25, 0.5, 0.25])
    assert poisson_binomial([1.0, 0.0, 0.3]) == pytest.approx([0.0, 0.7, 0.3])


def test_a_sum_of_bernoullis_matches_brute_force() -> None:
    rng = random.Random(7)
    ps = [rng.random() for _ in range(8)]
    brute = [0.0] * 9
    for mask in range(2**8):
        chance = math.prod(p if mask >> i & 1 else 1 - p for i, p in enumerate(ps))
        brute[bin(mask).count("1")] += chance
    assert poisson_binomial(ps) == pytest.approx(brute)


def test_poisson_and_convolution() -> None:
    pmf = poisson(3.0)
    assert sum(pmf) == pytest.approx(1.0)
    assert pmf[2] == pytest.approx(math.exp(-3) * 9 / 2)
    assert sum(n * p for n, p in enumerate(pmf)) == pytest.approx(3.0)
    both = convolve(poisson(1.0), poisson(2.0))  # the sum of Poissons is Poisson
    assert both[:10] == pytest.approx(poisson(3.0)[:10])


def test_at_least_n_with_a_probability() -> None:
    pmf = [0.1, 0.2, 0.3, 0.4]  # P(X >= n): 1.0, 0.9, 0.7, 0.4
    assert at_least(pmf, 0.9) == 1
    assert at_least(pmf, 0.7) == 2
    assert at_least(pmf, 0.95) == 0
    assert at_least(pmf, 0.4) == 3


def _history() -> History:
    """Four weeks of one arrival an hour: every other one admitted when it leaves after 3 h;
    the rest go home after 2 h. Half of past spells left by their expected date."""
    return History(_past(), span=(T0 - timedelta(weeks=4), T0), on_time_share=0.5)


def _past() -> list[PastAttendance]:
    start = T0 - timedelta(weeks=4)
    past = []
    for hour in range(4 * 7 * 24):
        arrived = start + timedelta(hours=hour)
        if hour % 2:
            left = arrived + timedelta(hours=3)
            past.append(PastAttendance(arrived, left, left, decided=arrived + timedelta(hours=1)))
        else:
            past.append(PastAttendance(arrived, arrived + timedelta(hours=2), None))
    return past


def test_shares_are_those_of_similar_past_attendances() -> None:
    history = _history()
    assert history.admitted_within(timedelta(0), timedelta(hours=4)) == pytest.approx(0.5)
    assert history.admitted_within(timedelta(0), timedelta(hours=2)) == 0.0  # admissions at 3 h
    # still there after 2.5 h: only the admitted ones are left
    assert history.admitted_within(timedelta(hours=2.5), timedelta(hours=1)) == 1.0
    decided = history.admitted_after_decision(timedelta(0), timedelta(hours=2), timedelta(hours=1))
    assert decided == 1.0
    no_decisions = History(  # none recorded: as the admitted ones, still in ED at that time
        [PastAttendance(a.arrived, a.departed, a.admitted) for a in _past()],
        span=(T0 - timedelta(weeks=4), T0), on_time_share=0.5,
    )  # fmt: skip
    late = no_decisions.admitted_after_decision(
        timedelta(hours=1), timedelta(hours=1), timedelta(hours=2.5)
    )
    assert late == 1.0
    assert history.arrivals_per_hour(10) == pytest.approx(1.0)


def test_a_forecast_adds_up_its_parts() -> None:
    now = Now(
        at=T0, free_beds=3, en_route=2,
        in_ed=[InEd(T0 - timedelta(hours=2.5)), InEd(T0 - timedelta(minutes=30))],
        expected_discharges=[T0 + timedelta(hours=1), T0 + timedelta(hours=30)],
    )  # fmt: skip
    four, eight, day = forecast(now, _history())
    assert (four.hours, eight.hours, day.hours) == (4, 8, 24)
    assert four.from_ed == pytest.approx(1.0 + 0.5)  # certain, and one in two
    assert four.from_en_route == pytest.approx(2 * 0.5)
    # arrivals in the next 4 h: one an hour, admitted (at 3 h) only if arriving in the first hour
    assert four.from_arrivals == pytest.approx(0.5 * 1)
    assert four.expected_admissions == pytest.approx(3.0)
    assert sum(four.admissions) == pytest.approx(1.0)
    assert four.expected_discharges == pytest.approx(0.5)  # one expected within 4 h
    assert sum(four.balance.values()) == pytest.approx(1.0)
    assert four.p_short == pytest.approx(sum(p for b, p in four.balance.items() if b < 0))
    assert four.at_least(0.9) <= four.at_least(0.7) <= round(four.expected_admissions) + 1
    assert day.expected_admissions > four.expected_admissions
    assert day.expected_discharges == pytest.approx(0.5)  # the other is due after 24 h
