"""The "messy trust" profile (issue #14): one simulated PAS that sends what real ones send — an
A08 after most events, clerk corrections (a discharge or transfer cancelled and keyed again the
same), Epic-style ED (A01 in class E at arrival, A06 at admission) and A02 E → I admissions,
A20 bed closures and re-openings, discharges with no EVN-6 and a date-only PV1-45, late and
reordered deliveries, and its own location codes (``RWVAMU^AMU BAY1^AMU-07``) that only the
feeds file's mapping turns into ours. Every message still says what really happened: the
ground truth (app/simulation/truth.py) is unchanged by the mess."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from app.simulation.hl7 import Place

if TYPE_CHECKING:
    from app.simulation.beds import SimBed
    from app.simulation.hospital import Hospital

AREA_NAMES = {"MAJ": "MAJORS", "MIN": "MINORS", "RES": "RESUS"}
# What the profile does, counted per hospital so a test can see each happen.
MESSY_KINDS = ("a08", "epic_arrival", "a02_admission", "date_only", "discharge_corrected",
               "transfer_corrected", "bed_closed")  # fmt: skip


@dataclass(frozen=True)
class Messy:
    a08_after: float = 0.7  # share of events followed by an A08 of the then-current state
    correction: float = 0.05  # discharges cancelled and keyed again the same
    transfer_correction: float = 0.3  # transfers cancelled and keyed again the same
    epic_arrival: float = 0.5  # ED arrivals sent as A01 in class E (else A04)
    a02_admission: float = 0.5  # admissions from ED sent as an A02 in class I (else A06)
    no_evn6_date_only: float = 0.3  # discharges with no EVN-6 and a date-only PV1-45
    late: float = 0.1  # messages delivered minutes late (out of order)
    closure_every_minutes: float = 180.0  # a free bed closed (A20) for one to six hours

    def pas_place(self, place: Place, facility: str) -> Place:
        """The trust's own code for one of our places (no PL.4: a single-site PAS)."""
        if place.ward == "ED":
            area = AREA_NAMES.get(place.bay, place.bay)
            code = f"{facility}ED^{area}^"
        else:
            number = place.bed.removeprefix("B").lstrip("0") or "0"
            code = f"{facility}{place.ward}^{place.ward} {place.bay}^{place.ward}-{number}^"
        return Place(place.site, place.ward, place.bay, place.bed, pas_code=code)


# One HL7 trust sends like a real one by default (the demo, the tests): its codes are mapped by
# deploy/economies/anyborough.feeds.yaml. The FHIR trust's mess is its own: EMER encounters in
# progress while the patient is seen, discharges corrected, late versions.
MESSY_BY_DEFAULT = frozenset({"RWV", "RNF"})
FHIR_MESSY = Messy(a08_after=0, epic_arrival=0, a02_admission=0, no_evn6_date_only=0)


def feeds_entry(facility: str, site: str) -> dict[str, object]:
    """The feeds-file entry that maps this trust's codes back to ours (the one shipped in
    deploy/economies/anyborough.feeds.yaml; a test proves it places every spell)."""
    return {
        "source": facility,
        "site": site,
        "processing_ids": ["P"],
        "rules": [
            {"when": {"ward": f"{facility}ED"}, "to": {"ward": "ED", "bay": "{bay}", "bed": ""}},
            {
                "when": {"ward": f"/^{facility}(.+)$/", "bed": r"/-(\d+)$/"},
                "to": {"ward": "{1}", "bed": "B{2:02}"},
            },
        ],
    }


def messy_closures(hospital: Hospital, messy: Messy) -> Generator[simpy.Event, Any, None]:
    """Now and then a free bed is closed (A20 C) for one to six hours, then opened (A20 U)."""
    while True:
        yield hospital.env.timeout(hospital.mess.expovariate(1 / messy.closure_every_minutes))
        free = [bed for bed in hospital.beds if bed.visit is None and not bed.closed]
        if not free:
            continue
        bed = hospital.mess.choice(free)
        hospital.mess_counts["bed_closed"] += 1
        hospital.bed_status(bed, "C")
        hospital.env.process(_reopen(hospital, bed, hospital.mess.uniform(60, 360)))


def _reopen(hospital: Hospital, bed: SimBed, after: float) -> Generator[simpy.Event, Any, None]:
    yield hospital.env.timeout(after)
    hospital.bed_status(bed, "U")
