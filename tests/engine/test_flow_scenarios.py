"""Engine scenarios with exact expected numbers (issue #4): the real projector, repositories,
PostgreSQL and OPEL profile, with the engine on a manual clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.changes import Delta
from app.db import create_sessionmaker
from app.escalation.models import MetricSample, OpelHistory
from app.occupancy.events import Location
from tests.engine.flow_support import START, SYSTEM, World, make_world


def _kinds(deltas: list[Delta], view: str) -> list[str]:
    return [d.kind for d in deltas if d.view == view]


async def test_a_ward_filling_and_an_escalation_bed_opening(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    for n in range(1, 11):
        await world.admit(f"v{n}", "T1", f"B{n:02d}")
    await world.settle()
    beds = world.metrics("T1")["beds"]
    assert (beds["open"], beds["occupied"], beds["free"]) == (10, 10, 0)
    assert beds["occupancy_pct"] == 100.0
    assert (beds["escalation_open"], beds["escalation_pct"]) == (0, 0.0)

    # The bed team opens escalation bed E01 (A20, status U), and a patient is admitted to it.
    await world.adt(
        "A20", "bed", "T1", location=Location(ward="W1", bed="E01", site="T1"), bed_status="U"
    )
    await world.admit("v11", "T1", "E01")
    published = await world.settle()
    beds = world.metrics("T1")["beds"]
    assert (beds["open"], beds["occupied"], beds["free"]) == (11, 11, 0)
    assert beds["escalation_open"] == 1
    assert beds["escalation_pct"] == 9.09  # 1 of 11 open beds
    assert "metrics" in _kinds(published, "site:T1")
    assert world.metrics("T2")["beds"]["occupied"] == 0  # other sites untouched


async def test_the_ambulance_queue_crosses_30_45_60_minutes_with_no_new_event(
    clean_db: AsyncEngine,
) -> None:
    world = await make_world(clean_db)
    await world.ambulance("I1", "conveying", "T1", at=START - timedelta(minutes=10))
    await world.settle()
    assert world.metrics("T1")["ambulance"]["en_route"] == 1
    await world.ambulance("I1", "arrived_at_hospital", "T1")
    await world.settle()
    amb = world.metrics("T1")["ambulance"]
    assert (amb["waiting"], amb["en_route"], amb["queue"][0]["band"]) == (1, 0, 0)
    assert world.engine.state.due["T1"] == START + timedelta(minutes=15)

    bands = []
    for minutes in (14, 1, 14, 1, 14, 1, 14, 1, 30):
        published = await world.advance(minutes=minutes)
        queue = world.metrics("T1")["ambulance"]["queue"]
        bands.append((queue[0]["band"], "metrics" in _kinds(published, "site:T1")))
    # A delta at exactly 15, 30, 45 and 60 minutes; nothing in between (no new event at all).
    assert bands == [
        (0, False), (15, True), (15, False), (30, True), (30, False), (45, True),
        (45, False), (60, True), (60, False),
    ]  # fmt: skip
    amb = world.metrics("T1")["ambulance"]
    assert amb["waiting_over"] == {"15": 1, "30": 1, "45": 1, "60": 1}

    # Handover at 90 minutes: the queue empties; today's figures count it.
    await world.ambulance("I1", "handover_complete", "T1")
    await world.settle()
    amb = world.metrics("T1")["ambulance"]
    assert (amb["waiting"], amb["handovers_today"], amb["handover_mean_minutes"]) == (0, 1, 90.0)
    assert amb["handovers_over"] == {"15": 1, "30": 1, "45": 1, "60": 1}
    assert amb["hours_lost"] == 1.0  # 90 - 30 minutes


async def test_ed_waits_cross_4_and_12_hours_and_the_4_hour_performance(
    clean_db: AsyncEngine,
) -> None:
    world = await make_world(clean_db)
    await world.arrive_in_ed("e1", "T1", at=START - timedelta(hours=3, minutes=59))
    await world.arrive_in_ed("e2", "T1", at=START - timedelta(hours=1))
    await world.arrive_in_ed("e3", "T1", at=START - timedelta(minutes=30))
    await world.settle()
    ed = world.metrics("T1")["ed"]
    assert (ed["in_department"], ed["arrivals_last_hour"], ed["over_4h"]) == (3, 1, 0)
    assert ed["occupancy_pct"] == 30.0  # 3 of 10 spaces

    await world.advance(minutes=1)  # e1 crosses 4 h; e2 leaves the last-hour window
    ed = world.metrics("T1")["ed"]
    assert (ed["over_4h"], ed["arrivals_last_hour"]) == (1, 1)

    # e3 is admitted (within 4 h), e1 goes home at 4 h 10 min: 1 of 2 within 4 hours.
    await world.admit("e3", "T1", "B01")
    await world.adt(
        "A03", "e1", "T1", patient_class="E", at=world.clock.now() + timedelta(minutes=9)
    )
    await world.settle()
    ed = world.metrics("T1")["ed"]
    assert (ed["in_department"], ed["departed_today"], ed["four_hour_pct"]) == (1, 2, 50.0)
    assert ed["breaches_today"] == 1


async def test_an_nctr_patient_leaves_on_p3_once_a_matching_vacancy_appears(
    clean_db: AsyncEngine,
) -> None:
    world = await make_world(clean_db)
    for n in range(1, 5):
        await world.admit(f"v{n}", "T2", f"B{n:02d}", at=START - timedelta(days=10))
    await world.discharge_status(
        "v1", "ready", pathway="P3", local_authority="LA1", delay_reason="x",
        needs_bed_type="nursing", discharge_ready_at=START - timedelta(days=8),
    )  # fmt: skip
    await world.discharge_status(
        "v2", "not_ready", pathway="P1", discharge_ready_at=START - timedelta(days=1)
    )
    await world.settle()
    dis = world.metrics("T2")["discharges"]
    assert (dis["nctr"], dis["nctr_pct"]) == (1, 25.0)  # 1 of 4 occupied beds
    assert dis["by_pathway"] == {"P3": 1}
    assert dis["days_delayed"]["7-13"] == 1
    assert dis["longest_days_delayed"] == 8
    (waiting,) = world.view("discharges:LA1")["pending"]
    assert (waiting["pathway"], waiting["days_since_ready"], waiting["matches"]) == ("P3", 8, [])
    await world.advance(minutes=6)  # a sample is due: the local authority's is sampled too
    assert await _latest(world, "LA1", "discharges.nctr") == 1

    await world.care_home_report(vacant_nursing=1, at=START + timedelta(minutes=2))
    await world.settle()
    (waiting,) = world.view("discharges:LA1")["pending"]
    assert [(m["home"], m["admittable"], m["stale"]) for m in waiting["matches"]] == [
        ("CH1", 1, False)
    ]
    assert world.view("discharges:LA1")["summary"]["admittable_fresh_by_bed_type"] == {"nursing": 1}

    await world.discharge_status(
        "v1", "placement_found", pathway="P3", local_authority="LA1", needs_bed_type="nursing",
        discharge_ready_at=START - timedelta(days=8), at=START + timedelta(minutes=5),
    )  # fmt: skip
    await world.adt("A03", "v1", "T2", patient_class="I", at=START + timedelta(minutes=10))
    await world.advance(minutes=10)
    dis = world.metrics("T2")["discharges"]
    assert (dis["nctr"], dis["discharged_today"], dis["before_noon_pct"]) == (0, 1, 100.0)
    assert world.view("discharges:LA1")["pending"] == []


async def test_opel_rises_1_to_4_and_falls_back_with_hysteresis(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    # Empty site: parameters with a value are all level 1 → score 0 → OPEL 1.
    assert await _levels(world) == (0.0, 1, 1)
    for n in range(1, 11):
        await world.admit(f"v{n}", "T1", f"B{n:02d}")
    await world.settle()
    # G&A 100 % → L4; ED 0 %, escalation 0 %, NCTR 0 % → L1: (4+1+1+1-4)/12 → 25 → OPEL 2.
    assert await _levels(world) == (25.0, 2, 2)
    for bed in ("E01", "E02"):
        await world.admit(f"x{bed}", "T1", bed)
    await world.settle()
    # Escalation 2 of 12 open beds → L4: (4+4+1+1-4)/12 → 50 → OPEL 3.
    assert await _levels(world) == (50.0, 3, 3)
    for n in range(12):
        await world.arrive_in_ed(f"ed{n}", "T1")
    for n in range(1, 4):
        await world.discharge_status(
            f"v{n}", "ready", pathway="P1", local_authority="LA1",
            discharge_ready_at=START - timedelta(days=1),
        )  # fmt: skip
    await world.settle()
    # Majors + resus: 12 in their 10 spaces → L4, NCTR 3 of 12 → L4, > 12 h in ED 0 % → L1:
    # (4+1+4+4+4-5)/15 → 80 → OPEL 4.
    assert await _levels(world) == (80.0, 4, 4)
    opel = await _opel(world, "T1")
    assert set(opel["drivers"]) == {
        "majors_resus_occupancy_pct", "ga_occupancy_pct", "escalation_beds_pct", "nctr_pct"
    }  # fmt: skip

    for n in range(1, 7):  # six go home, the three NCTR among them: G&A 6/12 → L1, NCTR → L1
        await world.adt("A03", f"v{n}", "T1", patient_class="I")
    await world.settle()
    # ED L4, > 12 h L1, G&A 6/12 L1, escalation L4, NCTR L1: (11-5)/15 → 40: raw 2, held at 4.
    assert await _levels(world) == (40.0, 2, 4)
    await world.advance(minutes=59)
    assert (await _levels(world))[2] == 4
    published = await world.advance(minutes=1)  # 60 min below the band, with no new event
    assert await _levels(world) == (40.0, 2, 2)
    assert "metrics" in _kinds(published, "site:T1")

    for n in range(12):
        await world.adt("A03", f"ed{n}", "T1", patient_class="E")
    await world.settle()
    # ED empty, 4-hour 100 %, 0 % > 12 h; only escalation still L4: (5*1+4-6)/18 → 16.67.
    assert await _levels(world) == (16.67, 1, 2)
    await world.advance(minutes=60)
    assert await _levels(world) == (16.67, 1, 1)

    async with world.sessionmaker() as session:
        history = (
            await session.execute(
                select(OpelHistory.level, OpelHistory.previous_level)
                .where(OpelHistory.scope == "T1")
                .order_by(OpelHistory.id)
            )
        ).all()
        samples = await session.scalar(
            select(func.count()).select_from(MetricSample).where(MetricSample.scope == "T1")
        )
    assert [tuple(row) for row in history] == [(1, None), (2, 1), (3, 2), (4, 3), (2, 4), (1, 2)]
    assert (samples or 0) > 0


async def test_a_level_moving_before_the_first_sample_here_is_not_sampled(
    clean_db: AsyncEngine,
) -> None:
    """After a rebuild or a demo reset the backlog is applied in seconds, and a sample is
    stamped with the time it is taken: a level that moves before this process has sampled on
    its cadence (five minutes after the last stored sample) is a passing state, not sampled."""
    async with create_sessionmaker(clean_db)() as session, session.begin():
        last = START - timedelta(minutes=1)
        session.add(MetricSample(scope=SYSTEM, metric="beds.open", value=30.0, at=last))
    world = await make_world(clean_db)
    assert await _sample_count(world, "T1") == 0  # the start keeps the cadence
    for n in range(1, 11):
        await world.admit(f"v{n}", "T1", f"B{n:02d}")
    await world.settle()
    assert (await _levels(world))[2] == 2
    assert await _sample_count(world, "T1") == 0
    await world.advance(minutes=4)  # the cadence: every scope sampled
    on_cadence = await _sample_count(world, "T1")
    assert on_cadence > 0
    for bed in ("E01", "E02"):
        await world.admit(f"x{bed}", "T1", bed)
    await world.settle()
    assert (await _levels(world))[2] == 3
    assert await _sample_count(world, "T1") == 2 * on_cadence  # a move is sampled from now on


async def _sample_count(world: World, scope: str) -> int:
    async with world.sessionmaker() as session:
        query = select(func.count()).select_from(MetricSample).where(MetricSample.scope == scope)
        return int(await session.scalar(query) or 0)


async def _levels(world: World) -> tuple[float | None, int | None, int | None]:
    opel = await _opel(world, "T1")
    return opel["score"], opel["raw_level"], opel["computed_level"]


async def test_the_system_level_rolls_up_three_sites_by_weight(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    # T2 full (score 25), T3 full with both escalation beds open and used (score 50), T1 empty.
    for n in range(1, 11):
        await world.admit(f"a{n}", "T2", f"B{n:02d}")
        await world.admit(f"b{n}", "T3", f"B{n:02d}")
    for bed in ("E01", "E02"):
        await world.admit(f"b{bed}", "T3", bed)
    await world.settle()
    t2, t3 = await _opel(world, "T2"), await _opel(world, "T3")
    assert (t2["score"], t3["score"]) == (25.0, 50.0)  # T3: occupancy L4 + escalation L4
    system = await _opel(world, SYSTEM)
    # 0.5 * 0 + 0.3 * 25 + 0.2 * 50 = 17.5 → OPEL 1
    assert (system["score"], system["computed_level"]) == (17.5, 1)
    # The system's samples are its sites' summed, its occupancy that of all their open beds.
    await world.advance(minutes=6)
    occupied = [await _latest(world, site, "beds.occupied") for site in ("T1", "T2", "T3")]
    beds = [await _latest(world, site, "beds.open") or 0.0 for site in ("T1", "T2", "T3")]
    assert occupied == [0, 10, 12]
    assert await _latest(world, SYSTEM, "beds.occupied") == 22
    assert await _latest(world, SYSTEM, "beds.occupancy_pct") == round(100 * 22 / sum(beds), 2)


async def _latest(world: World, scope: str, metric: str) -> float | None:
    async with world.sessionmaker() as session:
        query = (
            select(MetricSample.value)
            .where(MetricSample.scope == scope, MetricSample.metric == metric)
            .order_by(MetricSample.at.desc())
            .limit(1)
        )
        return await session.scalar(query)


async def _opel(world: World, scope: str) -> dict[str, Any]:
    from app.escalation.repository import EscalationRepository
    from app.escalation.service import opel_view

    async with world.sessionmaker() as session:
        view = opel_view(await EscalationRepository(session).state(scope))
    assert view is not None
    return view.model_dump()
