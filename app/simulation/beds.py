"""The simulated hospitals' beds and when their patients go home (acute: hospital.py; community:
community.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.simulation.hl7 import Patient, Place
from app.topology.schemas import SiteConfig

Minutes = float
# Discharge hour weights: from mid-morning, peaking mid-afternoon, a few in the evening.
DISCHARGE_HOURS = {9: 1, 10: 2, 11: 4, 12: 5, 13: 6, 14: 8, 15: 9, 16: 9, 17: 7, 18: 5, 19: 3,
                   20: 2, 21: 1}  # fmt: skip


@dataclass
class SimBed:
    place: Place
    visit: str | None = None  # who holds it (also while a correction is keyed: reserved)
    closed: bool = False

    @property
    def id(self) -> str:
        return f"{self.place.site}:{self.place.ward}:{self.place.bed}"


def sim_beds(site: SiteConfig, kinds: tuple[str, ...]) -> list[SimBed]:
    """The core beds of the site's units of these kinds, as its PAS names them."""
    return [
        SimBed(Place(site.code, unit.code, f"BAY{(n - 1) // unit.bay_size + 1}", f"B{n:02d}"))
        for unit in site.units
        if unit.kind in kinds
        for n in range(1, unit.beds + 1)
    ]


def afternoon(now: datetime, minutes: Minutes, rng: random.Random) -> Minutes:
    """Move a discharge ``minutes`` ahead into that day's discharge hours (peak 14:00-17:00)."""
    end = now + timedelta(minutes=minutes)
    hour = rng.choices(list(DISCHARGE_HOURS), weights=list(DISCHARGE_HOURS.values()))[0]
    target = end.replace(hour=hour, minute=rng.randrange(60))
    return max(30.0, (target - now).total_seconds() / 60)


def simulated_patient(
    site: str, start: datetime, sequence: int, rng: random.Random, born: str
) -> tuple[Patient, str]:
    """The site's ``sequence``-th patient of a run, and their visit number. Unique across
    simulator runs: a run that starts at another time is a new day, not the old one."""
    number = f"{site}{start:%y%m%d%H%M}{sequence:06d}"
    nhs = f"9{rng.randrange(10**8, 10**9)}"
    patient = Patient(f"M{number}", nhs, "SIMULATED", f"PATIENT{sequence}", born, rng.choice("MF"))
    return patient, f"V{number}"
