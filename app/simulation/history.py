"""``flowcc demo-history``: the demo economy's past, so trends, SPC baselines and the bed forecast
have something to stand on from the first minute of ``make run`` (issue #18).

The simulator's economy runs offline (no Kafka) for ``weeks`` before local midnight and on to
now, and its ground truth (app/simulation/truth.py: the board's own definitions) is sampled every
hour into ``metric_samples`` for each acute site, the system and each local authority — the
metrics the boards chart. The ED attendances that ended before midnight are written as closed
spells (no events: ``id`` starts ``HIST:``) for the forecast's fit. Since midnight the boards'
figures are the live feed's: ``flowcc simulate --since-midnight`` sends today, and from the
service's start its own samples follow these. The two runs are different draws of the same
economy, so a trend may step a little where the history meets the live samples. A rebuild or a
demo reset removes it all; it refuses to run outside development.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import simpy

from app.analytics.repository import AnalyticsRepository
from app.catalogue import authority_numbers, system_numbers
from app.clock import local_midnight
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.simulation.hospital import Hospital
from app.simulation.runner import start_economy
from app.topology.schemas import EconomyConfig, SiteConfig

GA = "general_and_acute"


class _Nowhere:
    """The offline run's feeds: nothing is sent."""

    def send(self, key: str, value: bytes, sim_minutes: float, late: float = 0.0) -> None:
        return None


@dataclass(frozen=True)
class PastAttendance:
    site: str
    visit: str
    arrived: datetime
    departed: datetime
    decided: datetime | None
    admitted: bool


@dataclass
class History:
    samples: list[tuple[str, str, float, datetime]] = field(default_factory=list)
    attendances: list[PastAttendance] = field(default_factory=list)


def simulate_history(
    economy: EconomyConfig, *, now: datetime, weeks: int, seed: int, every: timedelta
) -> History:
    """The economy's ``weeks`` before local midnight and today up to ``now``, sampled."""
    midnight = local_midnight(now)
    start = midnight - timedelta(weeks=weeks)
    env = simpy.Environment()
    nowhere = _Nowhere()
    hospitals, _ = start_economy(
        env, economy, random.Random(seed), start, {"hl7v2": nowhere, "fhir": nowhere},
        lambda *_: None, warm=True, messy=frozenset(),
    )  # fmt: skip
    history = History()
    authorities = [la.code for la in economy.local_authorities]
    for at in _times(start + every, now, every):
        env.run(until=(at - start).total_seconds() / 60)
        sites = {h.site.code: site_numbers(h, at) for h in hospitals}
        history.samples += _rows(sites, at, economy.code, authorities)
        if local_midnight(at) == at:  # a new day: what ended before it is in no figure now
            for hospital in hospitals:
                _keep(history, hospital, before=min(midnight, at))
                hospital.truth.forget_before(at - timedelta(days=2))
    for hospital in hospitals:
        _keep(history, hospital, before=midnight)
    return history


def _times(first: datetime, now: datetime, every: timedelta) -> Iterator[datetime]:
    """Every ``every`` up to now, and now (the service's own samples follow from there)."""
    at = first
    while at < now:
        yield at
        at += every
    yield now


def _rows(
    sites: dict[str, dict[str, float]], at: datetime, system: str, authorities: list[str]
) -> Iterator[tuple[str, str, float, datetime]]:
    for code, values in sites.items():
        yield from ((code, metric, value, at) for metric, value in values.items())
    for metric, value in system_numbers(sites.values()).items():
        yield system, metric, value, at
    for la in authorities:
        for metric, value in authority_numbers(sites.values(), la).items():
            yield la, metric, value, at


def site_numbers(hospital: Hospital, at: datetime) -> dict[str, float]:
    """A site's sampled numbers from its ground truth (the catalogue's names)."""
    truth = hospital.truth
    snapshot = truth.snapshot(at)
    general = _general_units(hospital.site)
    occupied = sum(c["occupied"] for u, c in snapshot["wards"].items() if u in general)
    free = sum(c["free"] for u, c in snapshot["wards"].items() if u in general)
    ed = snapshot["ed"]
    values = {
        "beds.occupied": float(occupied), "beds.free": float(free),
        "beds.open": float(occupied + free), "ed.in_department": float(ed["in_department"]),
        "ed.departed_today": float(ed["departed_today"]),
        "ambulance.waiting": float(snapshot["ambulance_waiting"]),
        "discharges.nctr": float(snapshot["nctr"]),
    }  # fmt: skip
    if occupied + free:
        values["beds.occupancy_pct"] = round(100 * occupied / (occupied + free), 2)
        values["discharges.nctr_pct"] = round(100 * snapshot["nctr"] / max(occupied, 1), 2)
    if ed["four_hour_pct"] is not None:
        values["ed.four_hour_pct"] = float(ed["four_hour_pct"])
    handover = truth.handover_mean_minutes(at)
    if handover is not None:
        values["ambulance.handover_mean_minutes"] = round(handover, 1)
    for la, count in truth.nctr_by_authority(at).items():
        values[f"discharges.by_local_authority.{la}"] = float(count)
    return values


def _general_units(site: SiteConfig) -> set[str]:
    return {u.code for u in site.units if u.care == GA and u.kind in ("ward", "assessment")}


def _keep(history: History, hospital: Hospital, *, before: datetime) -> None:
    """The site's ED attendances that ended before then (once each)."""
    seen = hospital.truth.attendances
    for visit, a in list(seen.items()):
        if a.departed is not None and a.departed < before:
            history.attendances.append(
                PastAttendance(hospital.site.code, visit, a.arrived, a.departed, a.decided,
                               a.admitted)
            )  # fmt: skip
            del seen[visit]


async def write_history(
    settings: Settings, *, weeks: int, seed: int, now: datetime | None = None
) -> tuple[int, int]:
    """Simulate and store the past up to now (one transaction); the counts written."""
    economy = EconomyConfig.load(settings.economy_file)
    now = now or datetime.now(UTC)
    history = await asyncio.to_thread(
        simulate_history, economy, now=now, weeks=weeks, seed=seed, every=timedelta(hours=1)
    )
    engine = create_engine(settings.db)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await AnalyticsRepository(session).add_history(history.samples, history.attendances)
    finally:
        await engine.dispose()
    return len(history.samples), len(history.attendances)
