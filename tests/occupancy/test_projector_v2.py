"""The projector and the engine on the v2 rules (issue #14), on a real database with the engine on
a manual clock: exact numbers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.ingest.decoders.hl7v2 import decode_hl7v2
from app.occupancy.events import AdtEvent, Location
from app.occupancy.models import Encounter
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from app.simulation.hl7 import hl7_time
from app.topology.models import Bed, Unit
from tests.engine.flow_support import START, World, make_world


async def _apply(world: World, *events: AdtEvent) -> None:
    async with world.sessionmaker() as session, session.begin():
        projector = OccupancyProjector(OccupancyRepository(session))
        await projector.apply_all(list(events))
        deltas = await projector.deltas()
    await world.committed(deltas)


def _event(trigger: str, visit: str, minutes: float, **fields: object) -> AdtEvent:
    return AdtEvent.model_validate(
        {
            "source": "TEST",
            "message_id": f"{visit}-{trigger}-{minutes}",
            "trigger": trigger,
            "event_time": START + timedelta(minutes=minutes),
            "time_source": "EVN-6",
            "encounter_key": f"TEST:{visit}",
            "patient_id": f"P-{visit}",
        }
        | fields
    )


async def _occupant(world: World, bed: str) -> str | None:
    async with world.sessionmaker() as session:
        return await session.scalar(select(Bed.occupant_encounter_id).where(Bed.id == bed))


async def test_ed_patients_hold_no_bed_and_majors_resus_is_counted(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    for n, area in enumerate(("MAJ", "MAJ", "RES", "MIN")):
        await world.arrive_in_ed(f"e{n}", "T1", at=START - timedelta(minutes=10), area=area)
    await world.settle()
    ed = world.metrics("T1")["ed"]
    assert ed["in_department"] == 4
    assert ed["by_area"] == {"majors": 2, "minors": 1, "resus": 1}
    assert (ed["majors_resus"], ed["majors_resus_spaces"]) == (3, 10)
    assert ed["majors_resus_occupancy_pct"] == 30.0
    assert world.metrics("T1")["beds"]["occupied"] == 0


async def test_a_lost_a03_leaves_ed_after_the_horizon(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    await world.arrive_in_ed("old", "T1", at=START - timedelta(hours=49))
    await world.arrive_in_ed("new", "T1", at=START - timedelta(hours=1))
    await world.settle()
    ed = world.metrics("T1")["ed"]
    assert (ed["in_department"], ed["in_department_stale"]) == (1, 1)


async def test_four_hour_counts_those_still_in_past_four_hours(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    await world.arrive_in_ed("left", "T1", at=START - timedelta(hours=3))
    await world.adt("A03", "left", "T1", patient_class="E", at=START - timedelta(hours=1))
    await world.arrive_in_ed("still", "T1", at=START - timedelta(hours=5))
    await world.settle()
    ed = world.metrics("T1")["ed"]
    assert ed["four_hour_pct"] == 50.0  # one left within 4 h; one still in past 4 h: a breach
    assert "still in it past 4" in ed["four_hour_definition"]


async def test_nctr_counts_only_patients_in_general_and_acute_beds(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    async with world.sessionmaker() as session, session.begin():
        await session.execute(update(Unit).where(Unit.id == "T2:W1").values(care="critical_care"))
    for visit, site in (("ga", "T1"), ("icu", "T2")):
        await world.admit(visit, site, "B01", at=START - timedelta(days=2))
        await world.discharge_status(
            visit, "ready", pathway="P1", discharge_ready_at=START - timedelta(days=1)
        )
    await world.adt("A08", "lounge", "T1", patient_class="I",
                    location=Location(ward="LOUNGE", bed="", site="T1"))  # fmt: skip
    await world.discharge_status("lounge", "ready", discharge_ready_at=START - timedelta(days=1))
    await world.settle()
    t1, t2 = world.metrics("T1"), world.metrics("T2")
    assert (t1["discharges"]["nctr"], t1["beds"]["occupied"]) == (1, 1)
    assert t2["discharges"]["nctr"] == 0, "critical care is not G&A"
    assert t2["beds"]["open"] == 0


async def test_a20_closes_and_reopens_a_bed(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    now = hl7_time(START)
    message = (
        f"MSH|^~\\&|PAS|TEST|FLOWCC|QAB|{now}||ADT^A20^ADT_A20|BS1|P|2.4\r"
        f"EVN|A20|{now}\rNPU|W1^BAY1^B04^T1|C"
    )
    (closed,) = decode_hl7v2(message.encode())
    assert closed.encounter_key == ""
    await _apply(world, closed)
    async with world.sessionmaker() as session:
        assert await session.scalar(select(Bed.status).where(Bed.id == "T1:W1:B04")) == "C"
    reopened = closed.model_copy(update={"message_id": "BS2", "bed_status": "U"})
    await _apply(world, reopened)
    async with world.sessionmaker() as session:
        assert await session.scalar(select(Bed.status).where(Bed.id == "T1:W1:B04")) == "U"


async def test_a40_merge_survives_the_next_fold(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    await world.admit("m1", "T1", "B02")
    await _apply(world, _event("A40", "m1", 5, patient_id="P-NEW", merged_patient_id="P-m1"))
    await world.adt("A08", "m1", "T1", patient_class="I",
                    location=Location(ward="W1", bed="B02", site="T1"))  # fmt: skip
    async with world.sessionmaker() as session:
        assert (
            await session.scalar(select(Encounter.patient_id).where(Encounter.id == "TEST:m1"))
            == "P-NEW"
        )


async def test_a50_renumbers_a_visit_and_its_bed_follows(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    await world.admit("old", "T1", "B03")
    renumber = _event("A50", "new", 10, prior_encounter_key="TEST:old", patient_class="I",
                      location={"ward": "W1", "bed": "B03", "site": "T1"})  # fmt: skip
    await _apply(world, renumber)
    assert await _occupant(world, "T1:W1:B03") == "TEST:new"
    async with world.sessionmaker() as session:
        ids = set((await session.scalars(select(Encounter.id))).all())
    assert "TEST:old" not in ids, "no phantom spell under the old number"


async def test_reloading_another_economy_retires_the_old_sites(clean_db: AsyncEngine) -> None:
    from app.topology.service import load_economy
    from tests.engine.flow_support import economy

    world = await make_world(clean_db)
    smaller = economy().model_copy(update={"sites": economy().sites[:1]})
    async with world.sessionmaker() as session, session.begin():
        counts = await load_economy(session, smaller)
        active = (await session.execute(text("SELECT code FROM sites WHERE active"))).scalars()
        assert sorted(active) == ["T1"]
    assert counts["sites_retired"] == 2
