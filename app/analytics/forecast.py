"""A probabilistic bed-demand forecast for one site (issue #18): how many admissions in the next
4, 8 and 24 hours, as an exact distribution — never a normal approximation. Pure, no I/O.

The model is small and explainable, fitted on the site's own history of ED attendances:

- **in ED now**: each patient is admitted within the window with the share of past attendances
  *still in the department at the same elapsed time* that were admitted within the same further
  time (a decision to admit is its own, stronger, history: time since the decision);
- **yet to arrive**: hour-of-week arrival rates (past arrivals in that hour of the week ÷ weeks
  of history), each hour thinned by the share of past attendances admitted within the time left
  in the window after arriving then: a Poisson count;
- **ambulances en route**: each admitted with the share of past attendances admitted within the
  window (they are about to arrive);
- **discharges**: each inpatient with an expected discharge before the window ends leaves with the
  site's own on-time share (past spells discharged by their expected date);
- **OPEL early warning**: the chance the site's level is higher at the end of the window if its G&A
  occupancy moves as the bed balance says and its other numbers stay as they are.

Admissions = Poisson-binomial (patients in ED, ambulances) + Poisson (arrivals), convolved; the
bed balance = free beds now + discharges − admissions, convolved the same way.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from app.catalogue import SiteMetrics, numbers
from app.clock import LONDON
from app.escalation.profile import OpelProfile
from app.escalation.scoring import assess

HOUR = timedelta(hours=1)
TAIL = 1e-12  # probability mass below which a distribution's tail is cut
MIN_SIMILAR = 20  # fewer past attendances than this at an elapsed time: use them all


@dataclass(frozen=True)
class PastAttendance:
    arrived: datetime
    departed: datetime
    admitted: datetime | None  # when the spell took a bed, if it did
    decided: datetime | None = None  # decision to admit


@dataclass(frozen=True)
class InEd:
    arrived: datetime
    decided: datetime | None = None


class History:
    """The site's past attendances (complete: arrived and left) and its discharge on-time share.
    Shares at an elapsed time are computed on 15-minute steps and kept (one fit per forecast)."""

    def __init__(
        self,
        attendances: Sequence[PastAttendance],
        span: tuple[datetime, datetime],
        on_time_share: float,
    ) -> None:
        """``span``: the period the attendances are all of (arrival rates are per occurrence of
        each hour of the week in it)."""
        self.size, self.on_time_share = len(attendances), on_time_share
        self._stays = sorted(_minutes(a.departed - a.arrived) for a in attendances)
        self._admitted = [(_minutes(a.departed - a.arrived), _minutes(a.admitted - a.arrived))
                          for a in attendances if a.admitted is not None]  # fmt: skip
        self._decided = [
            (_minutes(a.departed - a.decided),
             None if a.admitted is None else _minutes(a.admitted - a.decided))
            for a in attendances if a.decided is not None
        ]  # fmt: skip
        self._per_hour = Counter(_hour_of_week(a.arrived) for a in attendances)
        self._hours_seen = Counter(_hour_of_week(at) for at in _hours(*span))
        self._cache: dict[tuple[str, int, int], float] = {}

    def admitted_within(self, elapsed: timedelta, window: timedelta) -> float:
        """P(admitted within ``window`` more | still in ED after ``elapsed``)."""
        e, w = _step(elapsed), _step(window)
        key = ("ed", e, w)
        if key not in self._cache:
            still = self.size - bisect.bisect_right(self._stays, e)
            if still < MIN_SIMILAR:  # too few waited that long: the share of all, in the window
                still, e = self.size, -1
            hits = sum(1 for stay, delay in self._admitted if stay > e and delay <= max(e, 0) + w)
            self._cache[key] = hits / still if still else 0.0
        return self._cache[key]

    def admitted_after_decision(
        self, waited: timedelta, window: timedelta, elapsed: timedelta
    ) -> float:
        """P(admitted within ``window`` more | decided ``waited`` ago, in ED for ``elapsed``).
        With too few past decisions recorded: as past attendances that were admitted and still
        in ED at the same elapsed time (a decision to admit is a decision)."""
        d, w = _step(waited), _step(window)
        key = ("dta", d, w)
        if key not in self._cache:
            still = [delay for left, delay in self._decided if left > d]
            if len(still) < MIN_SIMILAR:
                return self._admitted_in_time(_step(elapsed), w)
            hits = sum(1 for delay in still if delay is not None and delay <= d + w)
            self._cache[key] = hits / len(still)
        return self._cache[key]

    def _admitted_in_time(self, e: int, w: int) -> float:
        key = ("bed", e, w)
        if key not in self._cache:
            still = [delay for stay, delay in self._admitted if stay > e]
            if len(still) < MIN_SIMILAR:
                still, e = [delay for _, delay in self._admitted], 0
            hits = sum(1 for delay in still if delay <= e + w)
            self._cache[key] = hits / len(still) if still else 0.0
        return self._cache[key]

    def arrivals_per_hour(self, hour_of_week: int) -> float:
        seen = self._hours_seen[hour_of_week]
        return self._per_hour[hour_of_week] / seen if seen else 0.0


@dataclass(frozen=True)
class Now:
    at: datetime
    in_ed: Sequence[InEd]
    en_route: int
    free_beds: int
    expected_discharges: Sequence[datetime]  # each inpatient's expected discharge time


@dataclass(frozen=True)
class Window:
    hours: int
    admissions: tuple[float, ...]  # P(admissions = n), n = 0, 1, ...
    discharges: tuple[float, ...]
    balance: dict[int, float]  # P(free beds at the end = b)
    from_ed: float  # expected admissions of those in ED now
    from_arrivals: float
    from_en_route: float

    @property
    def expected_admissions(self) -> float:
        return _mean(self.admissions)

    @property
    def expected_discharges(self) -> float:
        return _mean(self.discharges)

    def at_least(self, probability: float) -> int:
        """The most admissions N with P(admissions >= N) >= probability."""
        return at_least(self.admissions, probability)

    @property
    def p_short(self) -> float:
        """P(more admissions than free beds and discharges): the balance below zero."""
        return sum(p for b, p in self.balance.items() if b < 0)


def forecast(now: Now, history: History, hours: Sequence[int] = (4, 8, 24)) -> list[Window]:
    return [_window(now, history, timedelta(hours=h)) for h in hours]


AFTERNOON = time(15)  # when a discharge not made by its expected time is next likely


def _due(expected: datetime, now: datetime) -> datetime:
    """When a patient is expected to leave: their expected time — or, once it has passed
    (on time means within a day of it), the next afternoon: nobody goes home in the night."""
    if expected >= now:
        return expected
    local = now.astimezone(LONDON)
    afternoon = datetime.combine(local.date(), AFTERNOON, tzinfo=LONDON)
    return afternoon if afternoon > now else afternoon + timedelta(days=1)


def _window(now: Now, history: History, window: timedelta) -> Window:
    ed = [_p_in_ed(patient, now.at, history, window) for patient in now.in_ed]
    en_route = [history.admitted_within(timedelta(0), window)] * now.en_route
    arriving = _arrivals(now.at, history, window)
    admissions = convolve(poisson_binomial([*ed, *en_route]), poisson(arriving))
    due = [_due(at, now.at) for at in now.expected_discharges]
    leaving = [history.on_time_share for at in due if at <= now.at + window]
    discharges = poisson_binomial(leaving)
    balance: dict[int, float] = {}
    for d, pd in enumerate(discharges):
        for a, pa in enumerate(admissions):
            key = now.free_beds + d - a
            balance[key] = balance.get(key, 0.0) + pd * pa
    return Window(
        hours=round(window / HOUR), admissions=tuple(admissions), discharges=tuple(discharges),
        balance=balance, from_ed=sum(ed), from_arrivals=arriving, from_en_route=sum(en_route),
    )  # fmt: skip


def _p_in_ed(patient: InEd, at: datetime, history: History, window: timedelta) -> float:
    if patient.decided is not None:
        return history.admitted_after_decision(at - patient.decided, window, at - patient.arrived)
    return history.admitted_within(at - patient.arrived, window)


def _arrivals(at: datetime, history: History, window: timedelta) -> float:
    """Expected arrivals admitted before the window ends: hour by hour, thinned."""
    total, start = 0.0, at
    while start < at + window:
        end = min(start + HOUR, at + window)
        share = (end - start) / HOUR
        mid = start + (end - start) / 2
        rate = history.arrivals_per_hour(_hour_of_week(mid)) * share
        total += rate * history.admitted_within(timedelta(0), at + window - mid)
        start = end
    return total


def opel_rise(
    profile: OpelProfile, metrics: SiteMetrics, window: Window
) -> tuple[int | None, float | None]:
    """The OPEL level the site's numbers score now (before hysteresis), and the chance it is
    higher at the window's end if G&A occupancy moves as forecast and nothing else changes
    (None at level 4, or with no open beds)."""
    values = numbers(metrics)
    level = assess(profile, values).level
    if level is None or level >= 4 or not metrics.beds.open:
        return level, None
    rise = 0.0
    for free, chance in window.balance.items():
        occupied = metrics.beds.open - max(free, 0)  # short of beds: full (the rest wait in ED)
        pct = round(100 * occupied / metrics.beds.open, 2)
        scored = assess(profile, values | {"beds.occupancy_pct": pct}).level
        if scored is not None and scored > level:
            rise += chance
    return level, rise


def poisson_binomial(probabilities: Sequence[float]) -> list[float]:
    """The exact distribution of a sum of independent Bernoulli variables."""
    pmf = [1.0]
    for p in probabilities:
        nxt = [0.0] * (len(pmf) + 1)
        for k, q in enumerate(pmf):
            nxt[k] += q * (1 - p)
            nxt[k + 1] += q * p
        pmf = nxt
    return _trim(pmf)


def poisson(mean: float) -> list[float]:
    if mean <= 0:
        return [1.0]
    pmf, k, term = [], 0, math.exp(-mean)
    while True:
        pmf.append(term)
        k += 1
        term *= mean / k
        if k > mean and term < TAIL:
            return pmf


def convolve(a: Sequence[float], b: Sequence[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, p in enumerate(a):
        if p:
            for j, q in enumerate(b):
                out[i + j] += p * q
    return _trim(out)


def at_least(pmf: Sequence[float], probability: float) -> int:
    """The largest n with P(X >= n) >= probability."""
    best, tail = 0, 1.0  # tail = P(X >= n)
    for n, p in enumerate(pmf):
        if tail >= probability - 1e-12:
            best = n
        tail -= p
    return best


def _trim(pmf: list[float]) -> list[float]:
    while len(pmf) > 1 and pmf[-1] < TAIL:
        pmf.pop()
    return pmf


def _mean(pmf: Sequence[float]) -> float:
    return sum(n * p for n, p in enumerate(pmf))


def _hour_of_week(at: datetime) -> int:
    local = at.astimezone(LONDON)
    return local.weekday() * 24 + local.hour


def _hours(since: datetime, until: datetime) -> list[datetime]:
    """The middle of each whole hour in the span."""
    count = int((until - since) / HOUR)
    return [since + HOUR * i + HOUR / 2 for i in range(count)]


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _step(delta: timedelta) -> int:
    """Minutes, to the 15-minute step below (similar elapsed times share one fit)."""
    return int(delta.total_seconds() // 900) * 15
