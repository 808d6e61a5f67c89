"""The non-ADT feeds of the simulated economy: ambulance journeys, discharge readiness and
care-home vacancy reports, sent as the canonical JSON events (PRODUCT.md §3).

Calibration (domain.md §2–5): about a third of ED attendances arrive by ambulance; handover
times have a median near 20 minutes that stretches with ED crowding, giving a mean near 30
with a tail past 60 at busy hours; about a quarter of admissions wait for onward care after
becoming ready to leave (P1 short, P2 longer, P3 longest), which keeps NCTR at 10–15 % of
occupied beds (caps on short stays bring the share of admissions below NCTR_SHARE's 40 %);
most care homes report daily, some weekly, a few go stale.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import simpy
from pydantic import BaseModel

from app.ambulance.events import AmbulanceEvent, Step
from app.carehomes.events import BedTypeReport, CareHomeReport
from app.discharge.events import DischargeStatusEvent
from app.simulation.truth import SiteTruth
from app.topology.schemas import CareHomeConfig

AMBULANCE_SHARE = 0.33
NCTR_SHARE = 0.45  # of admissions that stay beyond their discharge-ready date
PATHWAYS = (("P1", 0.64, 1.5), ("P2", 0.27, 3.0), ("P3", 0.09, 6.0))  # share, median delay (days)
REASONS = {"P1": ["viii", "ii", "v"], "P2": ["ix", "vii"], "P3": ["x", "xii", "xiv"]}
P3_BED_TYPES = ["residential", "nursing", "dementia_residential", "dementia_nursing"]

SendJson = Callable[[str, str, bytes], None]  # (feed: ambulance|discharge|carehome, key, value)


def _json(model: BaseModel) -> bytes:
    return model.model_dump_json(exclude_none=True).encode()


@dataclass
class Journeys:
    """One acute site's ambulance and discharge feeds."""

    env: simpy.Environment
    site: str
    local_authorities: list[str]
    rng: random.Random
    now: Callable[[], datetime]
    send_json: SendJson
    ed_load: Callable[[], float]  # patients in ED per ED space, for handover delays
    truth: SiteTruth | None = None  # the site's ground truth (app/simulation/truth.py)
    edds: dict[str, str] = field(default_factory=dict)  # spells waiting for onward care
    on_p2: Callable[[str], None] | None = None  # a P2 discharge, by local authority
    p2: dict[str, str] = field(default_factory=dict)  # P2 spells ready → local authority

    # ------------------------------------------------------------------ ambulance

    def convey(self, visit: str) -> Generator[simpy.Event, Any, None]:
        """From leaving the scene to handover; the crew clears in the background."""
        incident = f"RYA-{visit}"
        category = self.rng.choices([1, 2, 3, 4], weights=[9, 60, 26, 5])[0]
        vehicle = f"RYA{self.rng.randrange(100, 999)}"
        self._step(incident, "conveying", category, vehicle)
        yield self.env.timeout(self.rng.uniform(12, 40))
        self._step(incident, "arrived_at_hospital", category, vehicle)
        yield self.env.timeout(self._handover_minutes())
        self._step(incident, "handover_complete", category, vehicle)
        self.env.process(self._clear(incident, category, vehicle))

    def _clear(self, incident: str, category: int, vehicle: str) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.rng.uniform(6, 25))
        self._step(incident, "clear", category, vehicle)

    def _handover_minutes(self) -> float:
        median = 22.0 * (0.6 + 0.9 * self.ed_load())
        return max(3.0, min(self.rng.lognormvariate(math.log(median), 0.6), 300.0))

    def _step(self, incident: str, step: Step, category: int, vehicle: str) -> None:
        if self.truth is not None and step == "arrived_at_hospital":
            self.truth.ambulance_arrived(incident, self.now())
        if self.truth is not None and step == "handover_complete":
            self.truth.handed_over[incident] = self.now()
        event = AmbulanceEvent(
            event_id=f"{incident}-{step}",
            incident_id=incident,
            step=step,
            category=category,
            destination_site=self.site,
            vehicle=vehicle,
            occurred_at=self.now(),
        )
        self.send_json("ambulance", incident, _json(event))

    # ------------------------------------------------------------------ discharge readiness

    def plan_stay(self, spell: str, stay_minutes: float, elapsed: float = 0.0) -> bool:
        """The ward's expected discharge date (EDD) for this stay (of which ``elapsed`` minutes
        have passed), and whether it ends with a wait for onward care — if so its updates run.
        Returns whether it does."""
        nctr = stay_minutes >= 36 * 60 and self.rng.random() < NCTR_SHARE
        delay = 0.0
        if nctr:
            pathway, _, median = self.rng.choices(PATHWAYS, weights=[p[1] for p in PATHWAYS])[0]
            delay = min(self.rng.lognormvariate(math.log(median * 1440), 0.7), stay_minutes * 0.7)
        ready_in = stay_minutes - delay - elapsed  # negative: ready before the simulation began
        # The EDD is the clinical estimate: the day the patient should be ready, give or take.
        drift = self.rng.choices([0, -1, 1, 2], weights=[6, 1, 2, 1])[0]
        edd = (self.now() + timedelta(minutes=ready_in, days=drift)).date().isoformat()
        self._discharge(spell, "not_ready", {"expected_discharge_date": edd})
        if nctr:
            self.edds[spell] = edd
            remaining = stay_minutes - elapsed
            self.env.process(self._readiness(spell, pathway, ready_in, remaining, edd))
        return nctr

    def _readiness(
        self, spell: str, pathway: str, ready_in: float, remaining: float, edd: str
    ) -> Generator[Any, Any, None]:
        yield self.env.timeout(max(0.0, ready_in))
        ready_at = self.now() + timedelta(minutes=min(0.0, ready_in))
        delay = remaining - max(0.0, ready_in)
        la = self.rng.choices(self.local_authorities, weights=[8, 2][: len(self.local_authorities)])
        plan = {
            "expected_discharge_date": edd,
            "pathway": pathway,
            "local_authority": la[0],
            "delay_reason": self.rng.choice(REASONS[pathway]),
            "needs_bed_type": _bed_type(pathway, self.rng),
            "discharge_ready_at": ready_at,
        }
        self._discharge(spell, "ready", plan)
        if pathway == "P2":
            self.p2[spell] = la[0]
        for status in ("referred", "assessment_booked", "package_sourced"):
            yield self.env.timeout(delay / 4)
            final = "placement_found" if pathway in ("P2", "P3") else "package_sourced"
            self._discharge(spell, final if status == "package_sourced" else status, plan)

    def discharged(self, spell: str) -> None:
        self._discharge(
            spell, "discharged", {"expected_discharge_date": self.edds.pop(spell, None)}
        )
        la = self.p2.pop(spell, None)
        if la is not None and self.on_p2 is not None:
            self.on_p2(la)

    # Values of any type: the plan's fields as the discharge feed's JSON states them (any subset).
    def _discharge(self, spell: str, status: str, plan: dict[str, Any]) -> None:
        if self.truth is not None and status == "ready":
            self.truth.ready[spell] = plan["discharge_ready_at"]
            self.truth.authority[spell] = plan["local_authority"]
        if self.truth is not None and status == "discharged":
            self.truth.ready.pop(spell, None)
        event = DischargeStatusEvent(
            event_id=f"{spell}-{status}",
            spell_id=spell,
            status=status,  # type: ignore[arg-type]
            occurred_at=self.now(),
            **plan,
        )
        self.send_json("discharge", spell, _json(event))


def _bed_type(pathway: str, rng: random.Random) -> str | None:
    if pathway == "P2":
        return "short_stay"
    if pathway == "P3":
        return rng.choice(P3_BED_TYPES)
    return None


@dataclass
class CareHomeReporter:
    """Each home reports its vacancies on its own cadence; a few stop reporting (stale)."""

    env: simpy.Environment
    home: CareHomeConfig
    rng: random.Random
    start: datetime
    send_json: SendJson

    def run(self) -> None:
        cadence = self.rng.choices(["daily", "3-daily", "weekly", "stale"], [70, 15, 10, 5])[0]
        every_days = {"daily": 1, "3-daily": 3, "weekly": 7, "stale": 0}[cadence]
        last = self.rng.uniform(8, 20) if cadence == "stale" else self.rng.uniform(0, every_days)
        self._report(self.start - timedelta(days=last))
        if every_days:
            self.env.process(self._cadence(every_days * 1440, offset=(every_days - last) * 1440))

    def _cadence(self, every: float, offset: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(max(0.0, offset))
        while True:
            self._report(self.start + timedelta(minutes=float(self.env.now)))
            yield self.env.timeout(every * self.rng.uniform(0.9, 1.1))

    def _report(self, at: datetime) -> None:
        closed = self.rng.random() < 0.05
        beds = []
        for bed_type, capacity in sorted(self.home.capacity.items()):
            vacant = min(capacity, self.rng.choices([0, 1, 2, 3, 4], [40, 30, 15, 10, 5])[0])
            beds.append(
                BedTypeReport(
                    bed_type=bed_type,  # type: ignore[arg-type]
                    capacity=capacity,
                    occupied=capacity - vacant,
                    vacant=vacant,
                    vacant_not_admittable=1 if vacant and self.rng.random() < 0.1 else 0,
                )
            )
        report = CareHomeReport(
            report_id=f"{self.home.code}-{at:%Y%m%dT%H%M}",
            home_code=self.home.code,
            open_to_admissions=not closed,
            closure_reason="infection outbreak" if closed else None,
            reported_at=at,
            beds=beds,
        )
        self.send_json("carehome", self.home.code, _json(report))
