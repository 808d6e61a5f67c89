"""The bed forecast's arithmetic: exact distributions (Poisson-binomial, Poisson, their
convolution), the quantiles the boards show, and the model's shares from a known history."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from app.analytics.forecast import (
    History,
    InEd,
    Now,
    PastAttendance,
    Window,
    at_least,
    convolve,
    forecast,
    opel_rise,
    poisson,
    poisson_binomial,
)
from app.catalogue import SiteMetrics
from app.escalation.profile import load_profile
from tests.support.clock import T0, gmt_midnight


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


def test_a_discharge_past_its_expected_time_is_next_due_the_next_afternoon() -> None:
    """At 22:00 (London on GMT), a patient who was expected to go at 15:00 and is still in will
    not go tonight: expected tomorrow afternoon, in the 24-hour window only."""
    night = gmt_midnight() + timedelta(hours=22)
    now = Now(at=night, free_beds=0, en_route=0, in_ed=[],
              expected_discharges=[night - timedelta(hours=7)])  # fmt: skip
    four, eight, day = forecast(now, _history())
    assert (four.expected_discharges, eight.expected_discharges) == (0.0, 0.0)
    assert day.expected_discharges == pytest.approx(0.5)  # at the on-time share
    morning = Now(
        at=night - timedelta(hours=13),
        free_beds=0,
        en_route=0,
        in_ed=[],
        expected_discharges=[night - timedelta(hours=7)],
    )  # 09:00: due at 15:00
    assert [w.expected_discharges for w in forecast(morning, _history())] == [0.0, 0.5, 0.5]


def _metrics(**values: float) -> SiteMetrics:
    """Site metrics with every number 0 (or empty) but these (``group__field=value``)."""
    groups: dict[str, dict[str, object]] = {}
    for group, field in SiteMetrics.model_fields.items():
        model = field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        groups[group] = {
            name: {} if "dict" in str(inner.annotation) else [] if "list" in str(inner.annotation)
            else None if "None" in str(inner.annotation) else "" if inner.annotation is str else 0
            for name, inner in model.model_fields.items()
        }  # fmt: skip
    for key, value in values.items():
        group, name = key.split("__")
        groups[group][name] = value
    return SiteMetrics.model_validate(groups)


def _window_with_balance(balance: dict[int, float]) -> Window:
    return Window(hours=4, admissions=(1.0,), discharges=(1.0,), balance=balance, from_ed=0,
                  from_arrivals=0, from_en_route=0)  # fmt: skip


def test_the_opel_early_warning_is_the_chance_occupancy_lifts_the_level() -> None:
    """Five parameters at level 2 and occupancy at 90 % (level 1): score 23.8, OPEL 1. Occupancy
    at 92 % or more lifts the score over 25: OPEL 2."""
    profile = load_profile(Path("deploy/escalation/opel-default.yaml"))
    metrics = _metrics(
        beds__open=100, beds__occupied=90, beds__free=10, beds__occupancy_pct=90,
        beds__escalation_pct=1, ambulance__handover_mean_minutes=20, ed__four_hour_pct=75,
        ed__majors_resus_occupancy_pct=90, ed__over_12h_pct=3, discharges__nctr_pct=5,
    )  # fmt: skip
    balance = {10: 0.5, 1: 0.3, -2: 0.2}  # free beds at the end: 90 %, 99 %, full
    level, rise = opel_rise(profile, metrics, _window_with_balance(balance))
    assert level == 1
    assert rise == pytest.approx(0.5)
    assert opel_rise(profile, metrics, _window_with_balance({10: 1.0})) == (1, 0.0)
    at_four = _metrics(
        beds__open=100,
        ambulance__handover_mean_minutes=90,
        ed__four_hour_pct=10,
        ed__majors_resus_occupancy_pct=200,
        ed__over_12h_pct=50,
        beds__occupancy_pct=99,
        beds__escalation_pct=9,
        discharges__nctr_pct=30,
    )
    assert opel_rise(profile, at_four, _window_with_balance(balance)) == (4, None)  # fmt: skip
