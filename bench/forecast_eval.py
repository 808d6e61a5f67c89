"""Rolling-origin backtest of the bed forecast (issue #18): ``make eval``.

The simulator's own hospital (app/simulation/hospital.py: hour-of-day and day-of-week arrival
profiles, lognormal times to decision and to a bed, beds that run out) runs in-process for
``weeks`` of ED history at one site. From the end of the first ``history_weeks``, every
``every_hours`` the forecast is made exactly as the API makes it — from the attendances before
that moment and the patients in ED at it — and compared with the admissions that then happened
in the next 4, 8 and 24 hours. Baseline: the rolling average of admissions in the same window at
the same time of day over the previous 42 days (as UCLH's patientflow compares with).
Figures: mean absolute error of the expected admissions, both; coverage of the central 90 %
interval; a randomised PIT histogram (flat when calibrated). Written into docs/analytics.md.
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import simpy

from app.analytics.forecast import History, InEd, Now, PastAttendance, forecast
from app.config import Settings
from app.simulation.hl7 import Patient
from app.simulation.hospital import Hospital
from app.topology.schemas import EconomyConfig

HOURS = (4, 8, 24)
BASELINE_DAYS = 42
BEGIN, END = "<!-- backtest:begin -->", "<!-- backtest:end -->"


@dataclass
class _Visit:
    arrived: datetime | None = None
    decided: datetime | None = None
    admitted: datetime | None = None


class _Recording(Hospital):
    """The simulator's hospital, noting each ED visit's decision to admit and admission."""

    visits: dict[str, _Visit]

    def send(self, visit: str, trigger: str, patient: Patient, cls: str, **fields: Any) -> None:
        seen = self.visits.setdefault(visit, _Visit())
        if cls == "E" and trigger in ("A04", "A01") and seen.arrived is None:
            seen.arrived = self.now()
        elif trigger == "A14":
            seen.decided = self.now()
        elif (
            seen.arrived is not None
            and seen.admitted is None
            and (trigger == "A06" or (trigger == "A02" and cls == "I"))
        ):
            seen.admitted = self.now()
        super().send(visit, trigger, patient, cls, **fields)


def simulate(site_code: str, weeks: int, seed: int, end: datetime) -> list[PastAttendance]:
    """``weeks`` of the site's ED attendances, ending at ``end`` (all that arrived and left)."""
    economy = EconomyConfig.load(Settings(environment="development").economy_file)
    site = next(s for s in economy.sites if s.code == site_code)
    env = simpy.Environment()
    start = end - timedelta(weeks=weeks)
    hospital = _Recording(
        env, site, facility=site.org, version="2.5.1", rng=random.Random(seed), start=start,
        send=lambda *_: None,
    )  # fmt: skip
    hospital.visits = {}
    hospital.run(warm=True)
    env.run(until=weeks * 7 * 1440)
    past = []
    for visit, seen in hospital.visits.items():
        attendance = hospital.truth.attendances.get(visit)
        if seen.arrived is None or attendance is None or attendance.departed is None:
            continue
        past.append(PastAttendance(attendance.arrived, attendance.departed, seen.admitted,
                                   seen.decided))  # fmt: skip
    return sorted(past, key=lambda a: a.arrived)


def backtest(
    past: Sequence[PastAttendance],
    *,
    history_weeks: int = 8,
    every_hours: int = 6,
    hours: Sequence[int] = HOURS,
) -> dict[str, Any]:
    first, last = past[0].arrived, max(a.departed for a in past)
    origin = first + timedelta(weeks=history_weeks)
    admitted = sorted(a.admitted for a in past if a.admitted is not None)
    rows: dict[int, list[tuple[float, float, int, bool, float]]] = {h: [] for h in hours}
    started = time.monotonic()
    while origin + timedelta(hours=max(hours)) <= last:
        history = History(
            [a for a in past if a.departed < origin and a.arrived >= origin - timedelta(
                weeks=history_weeks)],
            span=(origin - timedelta(weeks=history_weeks), origin), on_time_share=0.0,
        )  # fmt: skip
        in_ed = [InEd(a.arrived, a.decided if a.decided and a.decided <= origin else None)
                 for a in past if a.arrived <= origin < a.departed]  # fmt: skip
        now = Now(at=origin, in_ed=in_ed, en_route=0, free_beds=0, expected_discharges=[])
        for window in forecast(now, history, hours):
            span = timedelta(hours=window.hours)
            actual = _count(admitted, origin, origin + span)
            baseline = statistics.fmean(
                _count(admitted, origin - timedelta(days=d), origin - timedelta(days=d) + span)
                for d in range(1, BASELINE_DAYS + 1)
            )
            low, high = _quantile(window.admissions, 0.05), _quantile(window.admissions, 0.95)
            pit = _pit(window.admissions, actual, random.Random(origin.timestamp()))
            rows[window.hours].append(
                (window.expected_admissions, baseline, actual, low <= actual <= high, pit)
            )
        origin += timedelta(hours=every_hours)
    windows = {h: _score(r) for h, r in rows.items()}
    return {"origins": len(rows[hours[0]]), "seconds": time.monotonic() - started,
            "attendances": len(past), "windows": windows}  # fmt: skip


def _count(sorted_times: Sequence[datetime], start: datetime, end: datetime) -> int:
    return bisect.bisect_right(sorted_times, end) - bisect.bisect_right(sorted_times, start)


def _quantile(pmf: Sequence[float], q: float) -> int:
    total = 0.0
    for n, p in enumerate(pmf):
        total += p
        if total >= q:
            return n
    return len(pmf) - 1


def _pit(pmf: Sequence[float], actual: int, rng: random.Random) -> float:
    """Randomised probability integral transform of a count (uniform when calibrated)."""
    below = sum(pmf[:actual]) if actual < len(pmf) else 1.0
    here = pmf[actual] if actual < len(pmf) else 0.0
    return below + rng.random() * here


def _score(rows: list[tuple[float, float, int, bool, float]]) -> dict[str, Any]:
    deciles = [0] * 10
    for *_, pit in rows:
        deciles[min(9, int(pit * 10))] += 1
    return {
        "mae": statistics.fmean(abs(f - a) for f, _, a, _, _ in rows),
        "baseline_mae": statistics.fmean(abs(b - a) for _, b, a, _, _ in rows),
        "mean_actual": statistics.fmean(a for _, _, a, _, _ in rows),
        "coverage_90": statistics.fmean(1.0 if c else 0.0 for *_, c, _ in rows),
        "pit_deciles": deciles,
    }


def render(results: dict[str, Any], *, site: str, weeks: int, seed: int) -> str:
    lines = [
        BEGIN,
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make eval` (bench/forecast_eval.py): site "
        f"{site}, {weeks} weeks simulated (seed {seed}), {results['attendances']:,} ED "
        f"attendances, {results['origins']} origins every 6 h after the first 8 weeks, "
        f"{results['seconds']:.0f} s.",
        "",
        "| Window | Mean admissions | MAE forecast | MAE rolling average | 90 % interval "
        "coverage | PIT by decile (flat = calibrated) |",
        "|---|---|---|---|---|---|",
    ]
    for hours, s in results["windows"].items():
        lines.append(
            f"| {hours} h | {s['mean_actual']:.1f} | **{s['mae']:.2f}** | {s['baseline_mae']:.2f} "
            f"| {s['coverage_90'] * 100:.0f} % | {' '.join(str(n) for n in s['pit_deciles'])} |"
        )
    lines.append(END)
    return "\n".join(lines)


def write(path: Path, block: str) -> None:
    text = path.read_text()
    if BEGIN in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n## Forecast backtest\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="RAN01")
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    past = simulate(args.site, args.weeks, args.seed, end)
    block = render(backtest(past), site=args.site, weeks=args.weeks, seed=args.seed)
    print(block)
    if args.write is not None:
        write(args.write, block)


if __name__ == "__main__":
    main()
