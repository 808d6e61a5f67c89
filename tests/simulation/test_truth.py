"""The simulator's ground truth against the fold of its own messages, without the stack: every
hour, every bed's occupant and everyone in ED that the messages imply — messy trust included
(its codes mapped by the shipped feeds file) — is exactly what the simulation says is real."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import simpy

from app.ingest.decoders.fhir import decode_fhir_encounter
from app.ingest.decoders.hl7v2 import decode_hl7v2
from app.occupancy.events import AdtEvent
from app.occupancy.fold import fold
from app.occupancy.mapping import LocationMap
from app.occupancy.places import EconomyPlaces
from app.occupancy.projector import bed_id_for
from app.simulation.fhir import FhirEncounters
from app.simulation.hospital import Hospital
from app.simulation.messy import FHIR_MESSY, MESSY_KINDS, Messy, feeds_entry
from app.topology.schemas import EconomyConfig
from tests.support.clock import MONDAY, gmt_midnight
from tests.support.reference import _feeds

ECONOMY = "deploy/economies/anyborough.yaml"


def _hospitals(env: simpy.Environment, start: datetime, sink: list[bytes]) -> list[Hospital]:
    economy = EconomyConfig.load(ECONOMY)
    orgs = {o.code: o for o in economy.organisations}
    hospitals = []
    for n, site in enumerate(s for s in economy.sites if s.kind == "acute"):
        org = orgs[site.org]
        fhir = org.feed == "fhir"
        hospital = Hospital(
            env, site, facility=org.code, version=org.hl7_version or "2.5.1",
            rng=random.Random(n), start=start,
            send=lambda _key, value, _when, _late: sink.append(value),
            fhir=FhirEncounters(org.code) if fhir else None,
            messy=(FHIR_MESSY if fhir else Messy()) if org.code in ("RWV", "RNF") else None,
        )  # fmt: skip
        hospital.run(warm=True)
        hospitals.append(hospital)
    return hospitals


def _implied(sink: list[bytes], mapping: LocationMap, places: EconomyPlaces) -> dict[str, Any]:
    """Beds and ED as the fold of every message sent so far implies them."""
    spells: dict[str, dict[str, AdtEvent]] = defaultdict(dict)
    closed: dict[str, bool] = {}
    for raw in sink:
        decoded = decode_fhir_encounter(raw) if raw.startswith(b"{") else decode_hl7v2(raw)
        for event in decoded:
            if event.trigger == "A20":
                location = mapping.location(event.source, event.location)
                closed[bed_id_for(location, event.source) or ""] = event.bed_status == "C"
            else:
                spells[event.encounter_key][event.dedupe_key] = event
    beds: dict[str, str] = {}
    in_ed: set[str] = set()
    for key, events in spells.items():
        state = fold([mapping.event(e) for e in events.values()], places)
        if state.holds_bed:
            bed = bed_id_for(state.location, next(iter(events.values())).source)
            assert bed is not None
            assert bed not in beds, f"two spells in {bed}"
            beds[bed] = key
        if state.in_ed:
            in_ed.add(key)
    return {"beds": beds, "ed": in_ed, "closed": {b for b, c in closed.items() if c}}


def test_every_hour_the_messages_imply_exactly_the_truth() -> None:
    start = gmt_midnight(weekday=MONDAY)
    env = simpy.Environment()
    sink: list[bytes] = []
    hospitals = _hospitals(env, start, sink)
    mapping = _feeds(ECONOMY)
    economy = EconomyConfig.load(ECONOMY)
    places = EconomyPlaces({(s.code, u.code): u.kind for s in economy.sites for u in s.units})
    for hour in range(1, 25):
        env.run(until=hour * 60)
        now = start + timedelta(hours=hour)
        implied = _implied(sink, mapping, places)
        for hospital in hospitals:
            truth = hospital.truth
            real_beds = {b: t.spell for b, t in truth.beds.items() if t.spell}
            seen = {b: s for b, s in implied["beds"].items() if b.startswith(hospital.site.code)}
            assert seen == real_beds, (
                hour,
                hospital.site.code,
                set(seen.items()) ^ set(real_beds.items()),
            )
            real_closed = {b for b, t in truth.beds.items() if t.closed}
            assert {b for b in implied["closed"] if b.startswith(hospital.site.code)} == real_closed
            in_ed = {
                hospital.spell(visit)
                for visit, a in truth.attendances.items()
                if a.arrived <= now and (a.departed is None or a.departed > now)
            }
            seen_ed = {k for k in implied["ed"] if k.startswith(hospital.facility + ":")}
            assert seen_ed == in_ed, (hour, hospital.site.code, seen_ed ^ in_ed)
    messy = next(h for h in hospitals if h.facility == "RWV")
    assert all(messy.mess_counts[kind] > 0 for kind in MESSY_KINDS), messy.mess_counts


def test_the_shipped_feeds_file_maps_every_messy_trust_the_simulator_knows() -> None:
    """deploy/economies/anyborough.feeds.yaml is the mapping the messy profile needs (the
    ground-truth tests prove it places every spell; this keeps the two from drifting)."""
    shipped = {o.source: o for o in _feeds(ECONOMY).organisations}
    for facility, site in (("RWV", "RWV01"), ("RNF", "RNF01")):
        needed = LocationMap.model_validate({"organisations": [feeds_entry(facility, site)]})
        assert shipped[facility] == needed.organisations[0]
