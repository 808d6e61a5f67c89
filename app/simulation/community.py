"""The community hospitals of the simulated economy (issue #18): short-term rehabilitation beds
(discharge pathway 2) filled by the acute sites' P2 discharges and emptied by their own
discharges home, sent as the community trust's PAS sends HL7 v2 ADT (A01 in, A03 out).

Calibration [K] (not in domain.md; figures to check against local data): bed-based intermediate
care and community hospital rehabilitation wards run at about 85–95 % occupancy with stays of
three to four weeks (the National Audit of Intermediate Care reports a mean stay of about 26 days
in bed-based services; NHS Benchmarking's community hospital returns, occupancy around 90 %).
A bed that empties is filled again by the next P2 patient discharged from an acute ward once
it has been cleaned and the referral and assessment done (``TURNAROUND_MEDIAN_DAYS``): acute
wards always hold more P2 patients waiting (delay reason ix, domain.md §4.2) than the two
hospitals have beds, so their occupancy is stay / (stay + turnaround), about 93 %. A P2 patient
goes to a community hospital in their own local authority first, then a neighbour's; otherwise
to a P2 bed in a care home, which this feed does not see.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import simpy

from app.simulation.beds import SimBed, afternoon, sim_beds, simulated_patient
from app.simulation.hl7 import Patient, adt_message
from app.topology.schemas import SiteConfig

OCCUPANCY_AT_START = 0.9
STAY_MEDIAN_DAYS = 22.0  # lognormal, sigma 0.55: mean ~25.5 days, a few stay two months
STAY_SIGMA = 0.55
TURNAROUND_MEDIAN_DAYS = 1.5  # an empty bed to the next admission (cleaning, referral, transport)

Send = Callable[[str, bytes], None]  # key (the visit), the ADT message


class CommunityHospital:
    """One community hospital: its beds, who is in them, and the ADT its PAS sends."""

    def __init__(
        self,
        env: simpy.Environment,
        site: SiteConfig,
        *,
        facility: str,
        version: str,
        rng: random.Random,
        start: datetime,
        send: Send,
    ) -> None:
        self.env, self.site, self.facility, self.version = env, site, facility, version
        self.rng, self.start, self._send = rng, start, send
        self.beds = sim_beds(site, ("ward",))
        self.ready_at: dict[str, datetime] = {}  # an empty bed: when it can take the next patient
        self.sequence = 0
        self.admitted = 0
        self.turned_away = 0  # offered when no bed was ready

    def now(self) -> datetime:
        return self.start + timedelta(minutes=float(self.env.now))

    def occupied(self) -> int:
        return sum(1 for bed in self.beds if bed.visit is not None)

    def warm_start(self) -> None:
        """Patients already in beds: length-biased stays, a uniform point within each."""
        for bed in self.beds:
            if self.rng.random() > OCCUPANCY_AT_START:  # empty: part way through its turnaround
                wait = self.rng.uniform(0, 2 * TURNAROUND_MEDIAN_DAYS)
                self.ready_at[bed.id] = self.now() + timedelta(days=wait)
                continue
            # The length-biased form of lognormal(mu, sigma) is lognormal(mu + sigma^2, sigma).
            mu = math.log(STAY_MEDIAN_DAYS) + STAY_SIGMA**2
            stay = min(self.rng.lognormvariate(mu, STAY_SIGMA), 120.0)
            elapsed = self.rng.uniform(0, stay)
            self._admit(bed, admitted=self.now() - timedelta(days=elapsed), days=stay - elapsed)

    def offer(self) -> bool:
        """A P2 patient discharged from an acute ward now: admitted if a bed is free."""
        now = self.now()
        free = [b for b in self.beds if b.visit is None and self.ready_at.get(b.id, now) <= now]
        if not free:
            self.turned_away += 1
            return False
        stay = min(self.rng.lognormvariate(math.log(STAY_MEDIAN_DAYS), STAY_SIGMA), 120.0)
        self._admit(self.rng.choice(free), admitted=self.now(), days=stay)
        self.admitted += 1
        return True

    def _admit(self, bed: SimBed, *, admitted: datetime, days: float) -> None:
        """In the bed since ``admitted``, for ``days`` more."""
        self.sequence += 1
        patient, visit = simulated_patient(
            self.site.code, self.start, self.sequence, self.rng, "19400101"
        )
        bed.visit = visit
        self._adt("A01", patient, visit, bed, event_time=admitted, admit_time=admitted)
        self.env.process(self._stay(patient, visit, bed, max(days * 1440, 60.0)))

    def _stay(
        self, patient: Patient, visit: str, bed: SimBed, minutes: float
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(afternoon(self.now(), minutes, self.rng))
        self._adt("A03", patient, visit, bed, event_time=self.now(), discharge_time=self.now())
        bed.visit = None
        turnaround = self.rng.lognormvariate(math.log(TURNAROUND_MEDIAN_DAYS), 0.6)
        self.ready_at[bed.id] = self.now() + timedelta(days=turnaround)

    def _adt(self, trigger: str, patient: Patient, visit: str, bed: SimBed, **times: Any) -> None:
        message = adt_message(
            trigger=trigger, control_id=f"{visit}-{trigger}-{self.rng.getrandbits(32):08x}",
            sending_facility=self.facility, patient=patient, visit_number=visit,
            patient_class="I", location=bed.place, recorded_time=self.now(),
            version=self.version, specialty="REH", **times,
        )  # fmt: skip
        self._send(visit, message)


class CommunityBeds:
    """Where the economy's P2 discharges go: a community hospital of their local authority
    first, then a neighbour's (``route`` is the acute hospitals' ``on_p2``)."""

    def __init__(self, hospitals: list[CommunityHospital]) -> None:
        self.hospitals = hospitals

    def route(self, local_authority: str) -> None:
        ranked = sorted(self.hospitals, key=lambda h: h.site.local_authority != local_authority)
        for hospital in ranked:
            if hospital.offer():
                return
