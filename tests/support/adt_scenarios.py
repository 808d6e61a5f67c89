"""The ADT state machine's scenarios (ADR 0007), table-driven: every sequence of issue #14's
"Why" and more, each with its exact expected state. Times are minutes from T0 (the run's own
clock); ``rec`` is when the sender recorded the message (EVN-2), the sequence cancels and
snapshots are judged in. Used by tests/occupancy/test_state_machine.py (each scenario in every
delivery order) and test_incremental_fold.py (and every batching)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.ingest.decoders.fhir import decode_fhir_encounter
from app.occupancy.events import AdtEvent, Location
from app.occupancy.fold import EncounterState
from tests.support.clock import T0

_ids = itertools.count(1)
KEY = "RAN:VN:S1"


def at(minutes: float | None) -> datetime | None:
    return None if minutes is None else T0 + timedelta(minutes=minutes)


def ev(
    trigger: str,
    minute: float,
    *,
    rec: float | None = None,
    bed: str | None = "B01",
    ward: str = "AMU",
    bay: str = "BAY1",
    cls: str | None = "I",
    mid: str | None = None,
    **fields: Any,
) -> AdtEvent:
    """One ADT event; ``rec`` defaults to the event time (recorded as it happened)."""
    location = Location(site="RAN01", ward=ward, bay=bay, bed=bed or "") if ward else None
    for name in ("admit_time", "discharge_time", "expected_discharge_at"):
        if name in fields:
            fields[name] = at(fields[name])
    return AdtEvent(
        source="RAN",
        message_id=mid or f"m{next(_ids)}",
        trigger=trigger,
        event_time=at(minute),
        time_source="EVN-6",
        recorded_at=at(minute if rec is None else rec),
        encounter_key=KEY,
        patient_id="MRN1",
        patient_class=cls,
        location=location,
        **fields,
    )


def ed(trigger: str, minute: float, area: str = "MAJ", **fields: Any) -> AdtEvent:
    """An event in ED (class E, ward ED, the area as the bay, no bed)."""
    return ev(trigger, minute, ward="ED", bay=area, bed=None, cls="E", **fields)


@dataclass(frozen=True)
class Expect:
    status: str
    bed: str | None = None  # the bed held (admitted), else None
    area: str | None = None  # the ED area (in ED)
    ed: tuple[float | None, float | None] | None = None  # ED arrival, departure (minutes)
    admitted: float | None = None
    discharged: float | None = None
    dta: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, state: EncounterState) -> None:
        actual: dict[str, Any] = {
            "status": state.status,
            "bed": state.location.bed if state.holds_bed and state.location else None,
            "area": state.ed_area,
        }
        wanted: dict[str, Any] = {"status": self.status, "bed": self.bed, "area": self.area}
        if self.ed is not None:
            actual["ed"] = (state.ed_arrived_at, state.ed_departed_at)
            wanted["ed"] = (at(self.ed[0]), at(self.ed[1]))
        for name in ("admitted", "discharged", "dta"):
            value = getattr(self, name)
            if value is not None:
                column = {"dta": "decision_to_admit_at"}.get(name, f"{name}_at")
                actual[name], wanted[name] = getattr(state, column), at(value)
        for name, value in self.extra.items():
            actual[name], wanted[name] = getattr(state, name), value
        assert actual == wanted


def fhir(version: int, status: str, cls: str, updated: float, **parts: Any) -> list[AdtEvent]:
    """A FHIR Encounter version, decoded."""
    document: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": "e1",
        "meta": {"versionId": str(version), "lastUpdated": at(updated).isoformat()},  # type: ignore[union-attr]
        "identifier": [{"system": "RAN", "value": "S1"}],
        "status": status,
        "class": {"code": cls},
        **parts,
    }
    return decode_fhir_encounter(json.dumps(document).encode())


def period(start: float | None = None, end: float | None = None) -> dict[str, str]:
    found = {"start": at(start), "end": at(end)}
    return {k: v.isoformat() for k, v in found.items() if v is not None}


def place(ref: str, start: float, status: str = "active") -> dict[str, Any]:
    return {"location": {"reference": f"Location/{ref}"}, "status": status,
            "period": period(start)}  # fmt: skip


SCENARIOS: dict[str, tuple[list[AdtEvent], Expect]] = {}


def scenario(name: str, events: list[AdtEvent], expect: Expect) -> None:
    assert name not in SCENARIOS
    SCENARIOS[name] = (events, expect)


# ---------------------------------------------------------------- basics
scenario("admit, move, discharge",
         [ev("A01", 0), ev("A02", 60, bed="B05"), ev("A03", 120, bed=None)],
         Expect("discharged", admitted=0, discharged=120))  # fmt: skip
scenario("admit then move", [ev("A01", 0), ev("A02", 60, bed="B05")],
         Expect("admitted", bed="B05", admitted=0))  # fmt: skip
scenario("an A03 delivered before the A02 it follows",
         [ev("A03", 120, bed=None), ev("A01", 0), ev("A02", 60, bed="B05")],
         Expect("discharged", discharged=120))  # fmt: skip
scenario("a move at the admission's own minute wins (rank)",
         [ev("A01", 0), ev("A02", 0, bed="B07")], Expect("admitted", bed="B07"))  # fmt: skip
scenario("A07 inpatient to outpatient leaves the bed",
         [ev("A01", 0), ev("A07", 30, cls="O")], Expect("outpatient"))  # fmt: skip
scenario("A01 in class P (a pre-admission that arrived) occupies its bed",
         [ev("A01", 0, cls="P")], Expect("admitted", bed="B01"))  # fmt: skip
scenario("A04 in class O never takes the bed it names",
         [ev("A04", 0, cls="O")], Expect("registered"))  # fmt: skip
scenario("A04 in class I (registration, not admission) takes no bed",
         [ev("A04", 0, cls="I")], Expect("registered"))  # fmt: skip
scenario("A06 with no ED before it is an admission",
         [ev("A06", 0)], Expect("admitted", bed="B01", admitted=0))  # fmt: skip
scenario("re-admission after a discharge in the same visit",
         [ev("A01", 0), ev("A03", 60, bed=None), ev("A01", 90, bed="B03")],
         Expect("admitted", bed="B03", admitted=90))  # fmt: skip
scenario("a two-move history ends in the last bed",
         [ev("A01", 0), ev("A02", 10, bed="B02"), ev("A02", 20, bed="B03")],
         Expect("admitted", bed="B03"))  # fmt: skip
scenario("expected date of discharge (PV2-9) is kept",
         [ev("A01", 0), ev("A08", 30, expected_discharge_at=2880)],
         Expect("admitted", bed="B01", extra={"expected_discharge_at": at(2880)}))  # fmt: skip
scenario("a pending discharge (A16), then cancelled (A25)",
         [ev("A01", 0), ev("A16", 30), ev("A25", 40)],
         Expect("admitted", bed="B01", extra={"pending_discharge": False}))  # fmt: skip
scenario("a pending discharge (A16) stands",
         [ev("A01", 0), ev("A16", 30)],
         Expect("admitted", bed="B01", extra={"pending_discharge": True}))  # fmt: skip
scenario("leave of absence keeps the bed; its cancel (A52) ends it",
         [ev("A01", 0), ev("A21", 30), ev("A52", 40)],
         Expect("admitted", bed="B01", extra={"on_leave": False}))  # fmt: skip
scenario("leave of absence and return",
         [ev("A01", 0), ev("A21", 30), ev("A22", 90)],
         Expect("admitted", bed="B01", extra={"on_leave": False}))  # fmt: skip
scenario("pre-admission (A05) holds no bed",
         [ev("A05", 0)], Expect("planned"))  # fmt: skip
scenario("pre-admission cancelled (A27)",
         [ev("A05", 0), ev("A27", 10)], Expect("unknown"))  # fmt: skip
scenario("tracking (A09/A10) and pending transfer (A15) change nothing",
         [ev("A01", 0), ev("A09", 10, bed="X"), ev("A10", 20, bed="X"), ev("A15", 30, bed="B09")],
         Expect("admitted", bed="B01"))  # fmt: skip

# ---------------------------------------------------------------- A08 is a snapshot (#1)
scenario("A08 then the admission cancelled: the A08 never revives it",
         [ev("A01", 0), ev("A08", 20), ev("A11", 30)], Expect("cancelled"))  # fmt: skip
scenario("A08 showing a transfer later cancelled: back in the first bed",
         [ev("A01", 0), ev("A02", 60, bed="B05"), ev("A08", 65, bed="B05"), ev("A12", 70)],
         Expect("admitted", bed="B01"))  # fmt: skip
scenario("A08 before a back-dated transfer keyed after it: the transfer wins",
         [ev("A01", 0), ev("A08", 180, bed="B01"), ev("A02", 60, rec=240, bed="B05")],
         Expect("admitted", bed="B05"))  # fmt: skip
scenario("A08 announcing a move (a PAS without A02s) moves the patient",
         [ev("A01", 0), ev("A08", 120, bed="B09")], Expect("admitted", bed="B09"))  # fmt: skip
scenario("A08 after the discharge never re-occupies",
         [ev("A01", 0), ev("A03", 60, bed=None), ev("A08", 90)], Expect("discharged"))  # fmt: skip
scenario("A08 recorded before a back-dated discharge keyed later: discharged",
         [ev("A01", 0), ev("A08", 180, bed="B04"), ev("A03", 120, rec=200, bed=None)],
         Expect("discharged", discharged=120))  # fmt: skip
scenario("A08 in class I while in ED admits (class transition, any trigger)",
         [ed("A04", 0), ev("A08", 200, bed="B03")],
         Expect("admitted", bed="B03", ed=(0, 200), admitted=200))  # fmt: skip
scenario("A08 in ED with a new area moves the patient within ED",
         [ed("A04", 0), ed("A08", 30, area="RESUS")],
         Expect("ed", area="RESUS", ed=(0, None)))  # fmt: skip
scenario("an A08 for a spell never admitted (late joiner, class I) implies the admission",
         [ev("A08", 30, bed="B06")], Expect("admitted", bed="B06"))  # fmt: skip
scenario("an A08 in class E never implies an admission",
         [ed("A08", 30)], Expect("unknown"))  # fmt: skip

# ---------------------------------------------------------------- cancels and re-entries (#2, #7)
scenario("A04 (ED) → A02 inside ED → A11: cancelled, never admitted",
         [ed("A04", 0), ed("A02", 20, area="MIN"), ev("A11", 30, cls="E", ward="ED", bed=None)],
         Expect("cancelled"))  # fmt: skip
scenario("discharge cancelled, then keyed again the same (new MSH-10): discharged",
         [ev("A01", 0), ev("A03", 900, rec=901, bed=None), ev("A13", 910, rec=910),
          ev("A03", 900, rec=920, bed=None)],
         Expect("discharged", discharged=900))  # fmt: skip
scenario("transfer cancelled, then keyed again (new MSH-10): moved",
         [ev("A01", 0), ev("A02", 60, rec=61, bed="B05"), ev("A12", 70, rec=70),
          ev("A02", 60, rec=80, bed="B05")],
         Expect("admitted", bed="B05"))  # fmt: skip
scenario("a resend (new MSH-10, same content) is one instruction: one A13 undoes it",
         [ev("A01", 0), ev("A03", 120, rec=121, bed=None), ev("A03", 120, rec=122, bed=None),
          ev("A13", 130, rec=130)],
         Expect("admitted", bed="B01"))  # fmt: skip
scenario("a retry (same MSH-10, same content) is a no-op",
         [ev("A01", 0), ev("A03", 60, bed=None, mid="same"), ev("A03", 60, bed=None, mid="same")],
         Expect("discharged", discharged=60))  # fmt: skip
scenario("discharge, cancel, discharge, cancel: admitted",
         [ev("A01", 0), ev("A03", 60, rec=61, bed=None), ev("A13", 62, rec=62),
          ev("A03", 60, rec=63, bed=None), ev("A13", 64, rec=64)],
         Expect("admitted", bed="B01"))  # fmt: skip
scenario("a cancel whose EVN-6 is years before its target still matches it (sequence)",
         [ev("A01", 0, rec=0), ev("A11", -5_000_000, rec=10)], Expect("cancelled"))  # fmt: skip
scenario("A13 whose EVN-6 sorts before its A03 still cancels it",
         [ev("A01", 0), ev("A03", 120, bed=None), ev("A13", -10, rec=130)],
         Expect("admitted", bed="B01"))  # fmt: skip
scenario("A12 undoes the latest of two transfers",
         [ev("A01", 0), ev("A02", 10, bed="B02"), ev("A02", 20, bed="B03"), ev("A12", 30)],
         Expect("admitted", bed="B02"))  # fmt: skip
scenario("two A12s undo both transfers",
         [ev("A01", 0), ev("A02", 10, bed="B02"), ev("A02", 20, bed="B03"), ev("A12", 30),
          ev("A12", 40)],
         Expect("admitted", bed="B01"))  # fmt: skip
scenario("an A12 whose transfer never arrived states the bed (its PV1-3)",
         [ev("A01", 0), ev("A12", 30, bed="B08")], Expect("admitted", bed="B08"))  # fmt: skip
scenario("an A13 whose discharge never arrived: still in, at its PV1-3",
         [ev("A01", 0), ev("A13", 30, bed="B01")], Expect("admitted", bed="B01"))  # fmt: skip
scenario("an A13 for a spell never seen admits it at its PV1-3 (late joiner)",
         [ev("A13", 30, bed="B04")], Expect("admitted", bed="B04"))  # fmt: skip
scenario("an A11 for an admission never received: cancelled",
         [ev("A11", 30)], Expect("cancelled"))  # fmt: skip
scenario("A11 cancels the ED registration (A04)",
         [ed("A04", 0), ev("A11", 10, cls="E", ward="ED", bed=None)],
         Expect("cancelled"))  # fmt: skip
scenario("A11 of an admission from ED: back in ED",
         [ed("A04", 0), ev("A06", 100, bed="B02"), ev("A11", 110, bed=None)],
         Expect("ed", area="MAJ", ed=(0, None)))  # fmt: skip

# ---------------------------------------------------------------- ED attendance (#4)
scenario("ED arrival (A04, class E) holds no bed",
         [ed("A04", 0)], Expect("ed", area="MAJ", ed=(0, None)))  # fmt: skip
scenario("Epic: A01 in class E is an ED arrival; A06 (E → I) the admission",
         [ed("A01", 0), ev("A06", 240, bed="B02")],
         Expect("admitted", bed="B02", ed=(0, 240), admitted=240))  # fmt: skip
scenario("A04 (E) → A02 to a ward bed in class I: admitted, ED left at the transfer",
         [ed("A04", 0), ev("A02", 180, bed="B03")],
         Expect("admitted", bed="B03", ed=(0, 180), admitted=180))  # fmt: skip
scenario("A04 (E) → A02 between ED areas: still in ED",
         [ed("A04", 0), ed("A02", 30, area="RESUS")],
         Expect("ed", area="RESUS", ed=(0, None)))  # fmt: skip
scenario("A04 (E) → A03: left ED, discharged from ED",
         [ed("A04", 0), ed("A03", 200)],
         Expect("discharged", ed=(0, 200), discharged=200))  # fmt: skip
scenario("decision to admit (A14) in ED, then the admission",
         [ed("A04", 0), ed("A14", 120), ev("A01", 300, bed="B04")],
         Expect("admitted", bed="B04", ed=(0, 300), dta=120, admitted=300))  # fmt: skip
scenario("Epic moves: A01 E → three ED moves → A06 → A03",
         [ed("A01", 0, area="RAT"), ed("A02", 60, area="MAJ5"), ed("A02", 120, area="MAJ4"),
          ed("A02", 180, area="MAJ5"), ev("A06", 300, ward="EAU", bed="B08"),
          ev("A03", 360, ward="EAU", bed=None)],
         Expect("discharged", ed=(0, 300), admitted=300, discharged=360))  # fmt: skip
scenario("Epic cancel transfer in ED: back to the earlier area, then left",
         [ed("A01", 0, area="RAT"), ed("A02", 60, area="MAJ5"), ed("A02", 90, rec=150, area="DEL"),
          ev("A12", 90, rec=165, cls="DAY CASE", ward="T11E", bed="B25"),
          ed("A02", 120, rec=180, area="MAJ4"), ev("A03", 180, rec=190, ward="ED", bed=None)],
         Expect("discharged", ed=(0, 180), discharged=180))  # fmt: skip
scenario("a class change alone (A02 E → I, no place): admitted, ED left",
         [ed("A04", 0), ev("A02", 100, ward="", bed=None)],
         Expect("admitted", ed=(0, 100), admitted=100))  # fmt: skip
scenario("an A06 stating an admit time years after its event: the event time",
         [ed("A04", 0), ev("A06", 120, admit_time=3_000_000)],
         Expect("admitted", bed="B01", ed=(0, 120), admitted=120))  # fmt: skip
scenario("an A06 stating an admit time between arrival and event: stated",
         [ed("A04", 0), ev("A06", 120, admit_time=100)],
         Expect("admitted", bed="B01", ed=(0, 100), admitted=100))  # fmt: skip
scenario("a duplicate ED arrival keeps the earliest door time",
         [ed("A04", 10), ed("A04", 10, area="MIN"), ed("A01", 0)],
         Expect("ed", area="MIN", ed=(0, None)))  # fmt: skip

# ---------------------------------------------------------------- imprecise times (#6)
scenario("A03 with a date-only PV1-45 never sorts before the morning's arrival",
         [ed("A04", 600), ed("A03", 0, time_precision="day")],
         Expect("discharged", ed=(600, 600), discharged=600))  # fmt: skip
scenario("an hour-only time stays within its hour, after precise events in it",
         [ev("A01", 0), ev("A02", 30, bed="B02"), ev("A03", 0, bed=None, time_precision="hour")],
         Expect("discharged", discharged=30))  # fmt: skip
scenario("a date-only admission with no precise event: that day",
         [ev("A01", 0, time_precision="day")],
         Expect("admitted", bed="B01", extra={"imprecise_time": True}))  # fmt: skip

# ---------------------------------------------------------------- late joiners and swaps
scenario("a transfer for a spell never seen admitted implies the admission",
         [ev("A02", 30, bed="B06")], Expect("admitted", bed="B06"))  # fmt: skip
scenario("never an implied admission once a discharge is on record",
         [ev("A02", 30, bed="B06"), ev("A03", 60, bed=None)], Expect("discharged"))  # fmt: skip
scenario("A17 (swap) moves this spell to its new bed",
         [ev("A01", 0), ev("A17", 30, bed="B09")], Expect("admitted", bed="B09"))  # fmt: skip


# ---------------------------------------------------------------- FHIR (#3)
def _fhir_scenarios() -> None:
    door = {"period": period(0)}
    scenario("FHIR: EMER in progress is a patient in ED, not an admission",
             fhir(1, "arrived", "EMER", 1, **door,
                  location=[place("RAN01:ED:MAJ", 0)])
             + fhir(2, "in-progress", "EMER", 30, **door,
                    location=[place("RAN01:ED:MAJ", 0)]),
             Expect("ed", area="MAJ", ed=(0, None)))  # fmt: skip
    scenario("FHIR: arrival from period.start, not the version's lastUpdated",
             fhir(1, "arrived", "EMER", 45, period=period(5)),
             Expect("ed", ed=(5, None)))  # fmt: skip
    scenario("FHIR: EMER → IMP by class history: admitted at the class change",
             fhir(3, "in-progress", "IMP", 400, period=period(0),
                  classHistory=[{"class": {"code": "EMER"}, "period": period(0, 240)},
                                {"class": {"code": "IMP"}, "period": period(240)}],
                  location=[place("RAN01:ED:MAJ", 0, "completed"),
                            place("RAN01:AMU:B02", 240)]),
             Expect("admitted", bed="B02", ed=(0, 240), admitted=240))  # fmt: skip
    scenario("FHIR: entered-in-error voids every version (two beds before it)",
             fhir(1, "in-progress", "IMP", 10, period=period(0),
                  location=[place("RAN01:AMU:B01", 0)])
             + fhir(2, "in-progress", "IMP", 60, period=period(0),
                    location=[place("RAN01:AMU:B01", 0, "completed"), place("RAN01:AMU:B05", 60)])
             + fhir(3, "entered-in-error", "IMP", 90, period=period(0)),
             Expect("cancelled"))  # fmt: skip
    scenario("FHIR: a move by location history, then finished",
             fhir(2, "finished", "IMP", 500, period=period(0, 480),
                  location=[place("RAN01:AMU:B01", 0, "completed"),
                            place("RAN01:AMU:B05", 200, "completed")]),
             Expect("discharged", admitted=0, discharged=480))  # fmt: skip
    scenario("FHIR: finished, then in progress again (discharge cancelled): in its bed",
             fhir(1, "in-progress", "IMP", 1, period=period(0),
                  location=[place("RAN01:AMU:B03", 0)])
             + fhir(2, "finished", "IMP", 300, period=period(0, 290),
                    location=[place("RAN01:AMU:B03", 0, "completed")])
             + fhir(3, "in-progress", "IMP", 320, period=period(0),
                    location=[place("RAN01:AMU:B03", 0)]),
             Expect("admitted", bed="B03", admitted=0))  # fmt: skip
    scenario("FHIR: an EMER encounter finished is an ED departure",
             fhir(2, "finished", "EMER", 300, period=period(0, 200)),
             Expect("discharged", ed=(0, 200), discharged=200))  # fmt: skip


_fhir_scenarios()


# ---------------------------------------------------------------- MRN-keyed spells (#8)
def mr(event: AdtEvent) -> AdtEvent:
    """The same event from a feed without PV1-19: the spell is keyed by the patient's MRN."""
    return event.model_copy(update={"encounter_key": "RAN:MR:MRN1"})


DAY = 24 * 60
scenario("MRN-keyed: Monday's ED visit ended; Wednesday's is a new attendance",
         [mr(ed("A04", 0)), mr(ed("A03", 120)), mr(ed("A04", 2 * DAY, "MIN"))],
         Expect("ed", area="MIN", ed=(2 * DAY, None)))  # fmt: skip
scenario("MRN-keyed: discharged Monday, through ED and admitted on Wednesday",
         [mr(ev("A01", 0)), mr(ev("A03", 600, bed=None)), mr(ed("A04", 2 * DAY)),
          mr(ev("A06", 2 * DAY + 200, bed="B04"))],
         Expect("admitted", bed="B04", ed=(2 * DAY, 2 * DAY + 200),
                admitted=2 * DAY + 200))  # fmt: skip
scenario("MRN-keyed: a discharge cancelled (A13) is no end: the next A01 is the same stay",
         [mr(ev("A01", 0)), mr(ev("A03", 600, bed=None)), mr(ev("A13", 620, bed="B01")),
          mr(ev("A02", 700, bed="B02"))],
         Expect("admitted", bed="B02", admitted=0))  # fmt: skip
scenario("MRN-keyed: an ED visit cancelled (A11) then a real one the next day",
         [mr(ed("A04", 0)), mr(ed("A11", 10)), mr(ed("A04", DAY))],
         Expect("ed", area="MAJ", ed=(DAY, None)))  # fmt: skip
