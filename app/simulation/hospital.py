"""One simulated acute hospital (simpy): ED arrivals, admissions, moves and discharges, sent as
the HL7 v2 ADT its PAS would send. Calibration: domain.md §2–5 and §7 (see the constants)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import simpy

from app.simulation.beds import Minutes, SimBed, afternoon, sim_beds, simulated_patient
from app.simulation.fhir import FhirEncounters
from app.simulation.hl7 import NOBODY, Patient, Place, adt_message
from app.simulation.journeys import AMBULANCE_SHARE, Journeys, SendJson
from app.simulation.messy import Messy, messy_closures
from app.simulation.truth import SiteTruth
from app.topology.schemas import SiteConfig

# Hour-of-day shape of ED arrivals (relative), low overnight, peak late morning to evening.
ARRIVAL_PROFILE = [
    0.45,
    0.35,
    0.3,
    0.28,
    0.27,
    0.3,
    0.45,
    0.7,
    1.0,
    1.25,
    1.35,
    1.35,
    1.3,
    1.3,
    1.25,
    1.2,
    1.2,
    1.2,
    1.15,
    1.1,
    1.0,
    0.85,
    0.7,
    0.55,
]
_MEAN_HOURLY = sum(ARRIVAL_PROFILE) / 24
ARRIVAL_PROFILE = [share / _MEAN_HOURLY for share in ARRIVAL_PROFILE]  # mean 1: rate per day holds
# Day-of-week shape (Monday = 0): Mondays busiest, weekends quieter (mean 1).
DAY_PROFILE = [1.1, 1.03, 1.0, 0.99, 1.0, 0.92, 0.96]
ATTENDANCES_PER_BED_PER_DAY = 0.5  # a 650-bed site sees ~325 ED attendances a day
ADMITTED_SHARE = 0.33  # about a third of attendances are admitted
TARGET_OCCUPANCY = 0.925
TRANSFER_SHARE = 0.12  # inpatients moved ward once during the stay
DUPLICATE_RATE = 0.005  # at-least-once delivery: the same message twice
DECISION_MEDIAN = 155.0  # minutes from arrival to the decision to admit or discharge
DTA_TO_BED_MEDIAN = 45.0  # minutes from decision to admit to leaving ED for a bed
CANCEL_TRANSFER_RATE = 0.03  # transfers entered in error and cancelled (A12)
CANCEL_DISCHARGE_RATE = 0.01  # discharges entered in error and cancelled (A13)
CANCEL_REGISTRATION_RATE = 0.003  # ED registrations on the wrong record, cancelled (A11)

Send = Callable[[str, bytes, datetime, float], None]  # key, value, event time, late share


class Hospital:
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
        send_json: SendJson | None = None,
        local_authorities: list[str] | None = None,
        fhir: FhirEncounters | None = None,
        messy: Messy | None = None,
        on_p2: Callable[[str], None] | None = None,
    ) -> None:
        """``on_p2(local_authority)``: a patient on discharge pathway 2 has left for a
        short-term bed (app/simulation/community.py)."""
        self.env, self.site, self.facility, self.version = env, site, facility, version
        self.rng, self.start, self._send = rng, start, send
        self.fhir = fhir  # a FHIR-native PAS: Encounter versions instead of HL7 ADT
        self.messy = messy
        # The mess draws from its own generator: the same seed gives the same patients.
        self.mess = random.Random(f"{site.code}-messy")
        self.truth = SiteTruth(site.code)
        self.mess_counts: Counter[str] = Counter()  # what the messy profile did, by kind
        self.current: dict[str, tuple[Patient, str, Place]] = {}  # visit → class, place now
        self.ed_count = 0
        self.ed_spaces = sum(sum(u.areas.values()) for u in site.units if u.kind == "ed") or 1
        self.journeys = (
            Journeys(
                env,
                site.code,
                local_authorities or [site.local_authority or ""],
                random.Random(rng.getrandbits(64)),
                self.now,
                send_json,
                lambda: self.ed_count / self.ed_spaces,
                self.truth,
                on_p2=on_p2,
            )
            if send_json is not None
            else None
        )
        self.beds = sim_beds(site, ("ward", "assessment"))
        for bed in self.beds:
            self.truth.bed(bed.id, bed.place.ward)
        self.bed_released = env.event()
        self.sequence = 0
        daily = ATTENDANCES_PER_BED_PER_DAY * len(self.beds)
        self.mean_arrivals_per_minute = daily / (24 * 60)
        # Little's law: occupied = admissions/day x mean LOS.
        self.mean_los_days = TARGET_OCCUPANCY / (ATTENDANCES_PER_BED_PER_DAY * ADMITTED_SHARE)

    def now(self) -> datetime:
        return self.start + timedelta(minutes=float(self.env.now))

    def run(self, *, warm: bool) -> None:
        if warm:
            self._warm_start()
        self.env.process(self._arrivals())
        if self.messy is not None and self.fhir is None:
            self.env.process(messy_closures(self, self.messy))

    # ------------------------------------------------------------------ messages

    def _patient(self) -> tuple[Patient, str]:
        self.sequence += 1
        return simulated_patient(self.site.code, self.start, self.sequence, self.rng, "19450101")

    def send(self, visit: str, trigger: str, patient: Patient, cls: str, **fields: Any) -> None:
        when = fields.pop("event_time", None) or self.now()
        self._remember(visit, trigger, patient, cls, fields.get("location"))
        if self.fhir is not None:
            resource = self.fhir.render(visit, trigger, cls, when, self.now(), **fields)
            if resource is not None:
                self._send(visit, resource, when, 0.0)
            return
        late = 0.0
        if self.messy is not None:
            late = self.messy.late
            for name in ("location", "prior_location"):
                if fields.get(name) is not None:
                    fields[name] = self.messy.pas_place(fields[name], self.facility)
            if trigger not in ("A08", "A20", "A11") and self.mess.random() < self.messy.a08_after:
                self.mess_counts["a08"] += 1
                self.env.process(self._a08_later(visit))
        message = adt_message(
            trigger=trigger,
            control_id=f"{visit}-{trigger}-{self.rng.getrandbits(32):08x}",
            sending_facility=self.facility,
            patient=patient,
            visit_number=visit,
            patient_class=cls,
            event_time=when,
            recorded_time=max(when, self.now()),
            version=self.version,
            **fields,
        )
        self._send(visit, message, when, late)
        if self.rng.random() < DUPLICATE_RATE:
            self._send(visit, message, when, late)

    def _remember(
        self, visit: str, trigger: str, patient: Patient, cls: str, place: Place | None
    ) -> None:
        """The spell as the PAS records it now (what a later A08 says)."""
        if trigger in ("A03", "A11"):
            self.current.pop(visit, None)
        elif trigger in ("A01", "A02", "A04", "A06", "A12", "A13") and place is not None:
            self.current[visit] = (patient, cls, place)

    def _a08_later(self, visit: str) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.mess.uniform(1, 30))
        if visit in self.current:
            patient, cls, place = self.current[visit]
            self.send(visit, "A08", patient, cls, location=place)

    def bed_status(self, bed: SimBed, status: str) -> None:
        """A20 (MSH, EVN and NPU only): a bed closed (C) or open again (U)."""
        bed.closed = status == "C"
        self.truth.close(bed.id, bed.closed)
        place = self.messy.pas_place(bed.place, self.facility) if self.messy else bed.place
        message = adt_message(
            trigger="A20", control_id=f"{bed.id}-{status}-{self.rng.getrandbits(32):08x}",
            sending_facility=self.facility, patient=NOBODY, visit_number="",
            patient_class="", event_time=self.now(), location=place, bed_status=status,
            version=self.version,
        )  # fmt: skip
        self._send(bed.id, message, self.now(), 0.0)

    def occupy(self, bed: SimBed, visit: str | None, *, recorded: bool = True) -> None:
        """Who holds a bed; ``recorded=False``: the PAS shows it free (an entry in error)."""
        bed.visit = visit
        self.truth.occupy(bed.id, self.spell(visit) if visit and recorded else None)

    # ------------------------------------------------------------------ processes

    def _warm_start(self) -> None:
        """Hospitals start ~93% full (patients admitted hours to weeks ago), with patients
        already in ED (about three hours of arrivals)."""
        for _ in range(round(self.mean_arrivals_per_minute * 180)):
            self.env.process(self._attendance(arrived_ago=self.rng.uniform(0, 240)))
        for bed in self.beds:
            if self.rng.random() > TARGET_OCCUPANCY:
                continue
            patient, visit = self._patient()
            # Patients in beds at any instant are length-biased (long stays are more likely to
            # be seen), so draw from the length-biased LOS and a uniform point within it.
            stay_days = self._length_of_stay_days(length_biased=True)
            elapsed = self.rng.uniform(0, stay_days)
            admitted = self.now() - timedelta(days=elapsed)
            self.occupy(bed, visit)
            self.send(
                visit,
                "A01",
                patient,
                "I",
                location=bed.place,
                event_time=admitted,
                admit_time=admitted,
            )
            self.env.process(
                self._inpatient_stay(
                    patient, visit, bed, (stay_days - elapsed) * 1440, elapsed * 1440
                )
            )

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        while True:
            now = self.now()
            rate = (
                self.mean_arrivals_per_minute
                * ARRIVAL_PROFILE[now.hour]
                * DAY_PROFILE[now.weekday()]
            )
            yield self.env.timeout(self.rng.expovariate(rate))
            self.env.process(self._attendance())

    def _attendance(self, arrived_ago: Minutes = 0.0) -> Generator[simpy.Event, Any, None]:
        """One ED attendance; ``arrived_ago`` > 0 for a patient already in ED at a warm start."""
        patient, visit = self._patient()
        if not arrived_ago and self.journeys is not None and self.rng.random() < AMBULANCE_SHARE:
            yield from self.journeys.convey(visit)
        area = self.rng.choices(["MAJ", "MIN", "RES"], weights=[6, 3, 1])[0]
        ed = Place(self.site.code, "ED", area, "")
        arrived = self.now() - timedelta(minutes=arrived_ago)
        self._arrive(visit, patient, ed, arrived)
        if not arrived_ago and self.rng.random() < CANCEL_REGISTRATION_RATE:
            # Registered on the wrong record: cancelled, and registered again as of the arrival.
            yield self.env.timeout(self.rng.uniform(2, 15))
            self.send(visit, "A11", patient, "E", location=ed)
            self.truth.cancel_attendance(visit)
            patient, visit = self._patient()
            self._arrive(visit, patient, ed, arrived)
        self.ed_count += 1
        if self.fhir is not None and self.messy is not None:
            # A FHIR PAS marks the patient seen: the EMER encounter goes in-progress.
            yield self.env.timeout(self.mess.uniform(5, 60))
            self.send(visit, "SEEN", patient, "E", location=ed)
        # Time to decision: most within 4 h, a long tail (lognormal).
        decision = self.rng.lognormvariate(math.log(DECISION_MEDIAN), 0.55)
        yield self.env.timeout(max(1.0, decision - arrived_ago))
        if self.rng.random() >= ADMITTED_SHARE:
            self.ed_count -= 1
            self.send(visit, "A03", patient, "E", discharge_time=self.now())
            self.truth.leave_ed(visit, self.now())
            return
        self.send(visit, "A14", patient, "E", location=ed)  # decision to admit
        self.truth.decide(visit, self.now())
        # A bed is found, cleaned and the patient moved: a trolley wait even when beds are free.
        yield self.env.timeout(self.rng.lognormvariate(math.log(DTA_TO_BED_MEDIAN), 0.8))
        bed = yield from self._wait_for_bed()
        self.occupy(bed, visit)
        self.ed_count -= 1
        self._admit_from_ed(visit, patient, bed)
        yield from self._inpatient_stay(patient, visit, bed, self._length_of_stay_days() * 1440)

    def _arrive(self, visit: str, patient: Patient, ed: Place, arrived: datetime) -> None:
        """An ED arrival: an A04 — or, for an Epic-style PAS, an A01 in class E."""
        epic = self.messy is not None and self.mess.random() < self.messy.epic_arrival
        self.mess_counts["epic_arrival"] += epic
        self.send(visit, "A01" if epic else "A04", patient, "E", location=ed, event_time=arrived)
        self.truth.arrive(visit, arrived, ed.bay)

    def _admit_from_ed(self, visit: str, patient: Patient, bed: SimBed) -> None:
        """The admission from ED: an A06 (E → I) — or an A02 whose class changes to I."""
        move = self.messy is not None and self.mess.random() < self.messy.a02_admission
        self.mess_counts["a02_admission"] += move
        if move:
            self.send(visit, "A02", patient, "I", location=bed.place)
        else:
            self.send(visit, "A06", patient, "I", location=bed.place, admit_time=self.now())
        self.truth.leave_ed(visit, self.now(), admitted=True)

    def _wait_for_bed(self) -> Generator[simpy.Event, Any, SimBed]:
        while True:
            free = [bed for bed in self.beds if bed.visit is None and not bed.closed]
            if free:
                return self.rng.choice(free)
            yield self.bed_released  # decision to admit, waiting in ED for a bed

    def spell(self, visit: str) -> str:
        """The spell id the HL7 decoder derives from PV1-19 (visit number^^^facility^VN)."""
        return f"{self.facility}:VN:{visit}"

    def _inpatient_stay(
        self, patient: Patient, visit: str, bed: SimBed, minutes: Minutes, elapsed: Minutes = 0.0
    ) -> Generator[simpy.Event, Any, None]:
        discharge_at = float(self.env.now) + self._afternoon(max(minutes, 30.0))
        planned = self.journeys is not None and self.journeys.plan_stay(
            self.spell(visit), discharge_at - float(self.env.now) + elapsed, elapsed
        )
        if self.rng.random() < TRANSFER_SHARE:
            yield self.env.timeout(
                (discharge_at - float(self.env.now)) * self.rng.uniform(0.2, 0.6)
            )
            bed = yield from self._transfer(patient, visit, bed)
        yield self.env.timeout(max(1.0, discharge_at - float(self.env.now)))
        if self.rng.random() < CANCEL_DISCHARGE_RATE:
            # Discharged in error (the wrong patient, or the transport fell through): cancelled,
            # back in the bed, and discharged for real a few hours later.
            self.occupy(bed, visit, recorded=False)
            self.send(visit, "A03", patient, "I", location=bed.place, discharge_time=self.now())
            yield self.env.timeout(self.rng.uniform(5, 40))
            self.occupy(bed, visit)
            self.send(visit, "A13", patient, "I", location=bed.place)
            yield self.env.timeout(self.rng.uniform(60, 240))
        yield from self._discharge(patient, visit, bed)
        if planned and self.journeys is not None:
            self.journeys.discharged(self.spell(visit))
        released, self.bed_released = self.bed_released, self.env.event()
        released.succeed()

    def _discharge(
        self, patient: Patient, visit: str, bed: SimBed
    ) -> Generator[simpy.Event, Any, None]:
        """The discharge (A03); a messy PAS may send no EVN-6 and a date-only PV1-45, or key it,
        cancel it (A13) and key it again the same, a clerk's correction."""
        # Values of any type: the HL7 renderer's keyword arguments for this A03.
        fields: dict[str, Any] = {"location": bed.place, "discharge_time": self.now()}
        if self.messy is not None and self.mess.random() < self.messy.no_evn6_date_only:
            fields |= {"evn6": False, "discharge_date_only": True}
            self.mess_counts["date_only"] += 1
        correction = self.messy is not None and self.mess.random() < self.messy.correction
        self.mess_counts["discharge_corrected"] += correction
        self.occupy(bed, visit, recorded=False)
        self.send(visit, "A03", patient, "I", **fields)
        if correction:
            yield self.env.timeout(self.mess.uniform(1, 5))
            self.occupy(bed, visit)
            self.send(visit, "A13", patient, "I", location=bed.place)
            yield self.env.timeout(self.mess.uniform(1, 5))
            self.occupy(bed, visit, recorded=False)
            self.send(visit, "A03", patient, "I", event_time=fields["discharge_time"], **fields)
        self.occupy(bed, None)

    def _transfer(
        self, patient: Patient, visit: str, bed: SimBed
    ) -> Generator[simpy.Event, Any, SimBed]:
        free = [b for b in self.beds if b.visit is None and not b.closed]
        if not free:
            return bed
        target = self.rng.choice(free)
        self.occupy(target, visit)
        self.occupy(bed, visit, recorded=False)  # reserved until the move stands
        moved_at = self.now()
        self.send(visit, "A02", patient, "I", location=target.place, prior_location=bed.place)
        if self.rng.random() < CANCEL_TRANSFER_RATE:
            yield self.env.timeout(self.rng.uniform(2, 20))
            self.occupy(target, None)
            self.occupy(bed, visit)
            self.send(visit, "A12", patient, "I", location=bed.place, prior_location=target.place)
            return bed
        if self.messy is not None and self.mess.random() < self.messy.transfer_correction:
            # Keyed, cancelled, keyed again the same: a clerk's correction, not a duplicate.
            self.mess_counts["transfer_corrected"] += 1
            yield self.env.timeout(self.mess.uniform(1, 5))
            self.occupy(target, visit, recorded=False)
            self.occupy(bed, visit)
            self.send(visit, "A12", patient, "I", location=bed.place, prior_location=target.place)
            yield self.env.timeout(self.mess.uniform(1, 5))
            self.occupy(target, visit)
            self.occupy(bed, visit, recorded=False)
            self.send(visit, "A02", patient, "I", location=target.place,
                      prior_location=bed.place, event_time=moved_at)  # fmt: skip
        self.occupy(bed, None)
        return target

    def _length_of_stay_days(self, *, length_biased: bool = False) -> float:
        """Long-tailed LOS with the mean that gives the target occupancy (sigma 1.0). The
        length-biased form of lognormal(mu, sigma) is lognormal(mu + sigma^2, sigma)."""
        sigma = 1.0
        mu = math.log(self.mean_los_days) - sigma**2 / 2
        if length_biased:
            mu += sigma**2
        return min(self.rng.lognormvariate(mu, sigma), 120.0)

    def _afternoon(self, minutes: Minutes) -> Minutes:
        return afternoon(self.now(), minutes, self.rng)
