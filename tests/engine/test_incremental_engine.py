"""The incremental engine (issue #17, lever 3; ADR 0009): each site's facts held in memory and
updated from committed changes equal a full recomputation from the database — after every
batch of random ADT, ambulance and discharge traffic, with the clock crossing the hour window,
the ED horizons and midnight — and a change that reaches the database without reaching the
engine is found by reconciliation, counted and repaired."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.ambulance.events import AmbulanceEvent
from app.ambulance.repository import AmbulanceRepository
from app.changes import spell_changed
from app.clock import LONDON, local_midnight
from app.flow.keeper import FactsKeeper
from app.flow.live import PlanFacts, SiteMemory, SpellFacts, UnitInfo
from app.flow.repository import FlowRepository
from app.occupancy.events import AdtEvent, Location
from app.occupancy.models import Encounter
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from tests.engine.flow_support import START, World, make_world

SITES = ("T1", "T2")
TRIGGERS = ("A04", "A04", "A02", "A01", "A01", "A06", "A02", "A03", "A03", "A08", "A11", "A12",
            "A13", "A16")  # fmt: skip


def _event(world: World, rng: random.Random, visit: str, site: str) -> AdtEvent:
    """One ADT event for a visit: in ED or on a ward, now or back-dated (out of order)."""
    trigger = rng.choice(TRIGGERS)
    in_ed = trigger in ("A04",) or (trigger in ("A02", "A08") and rng.random() < 0.5)
    where = (
        Location(ward="ED", bay=rng.choice(["MAJ", "RES", "MIN"]), site=site)
        if in_ed
        else Location(ward="W1", bed=f"B{rng.randint(1, 10):02d}", site=site)
    )
    back = rng.choice([0, 0, 0, 0, 20, 90, 300])
    # The PAS's expected discharge (PV2-9) now and then: today, tomorrow or yesterday.
    edd = rng.choice([None, None, 0, 1, -1])
    return AdtEvent(
        source="TEST",
        message_id=f"m{next(world.ids)}",
        trigger=trigger,
        event_time=world.clock.now() - timedelta(minutes=back),
        time_source="EVN-6",
        encounter_key=f"TEST:{visit}",
        patient_id=f"P-{visit}",
        patient_class="E" if in_ed else "I",
        location=where,
        expected_discharge_at=None if edd is None else world.clock.now() + timedelta(days=edd),
    )


async def _batch(world: World, events: list[AdtEvent]) -> None:
    async with world.sessionmaker() as session, session.begin():
        projector = OccupancyProjector(OccupancyRepository(session))
        await projector.apply_all(events)
        deltas = await projector.deltas()
    await world.committed(deltas)


async def _other_traffic(world: World, rng: random.Random, step: int) -> None:
    """Now and then an ambulance step or a discharge status (these writers touch the site)."""
    roll = rng.random()
    if roll < 0.15:
        incident = f"I{rng.randint(1, 6)}"
        stage = rng.choice(["conveying", "arrived_at_hospital", "handover_complete", "clear"])
        await world.ambulance(incident, stage, rng.choice(SITES))  # type: ignore[arg-type]
    elif roll < 0.3:
        # A plan ready by now or later (NCTR's crossing), dated today or not (expected today),
        # for a spell in a bed, gone, not yet known (v13+), or ended days ago and then back.
        now = world.clock.now()
        ready = rng.choice([None, now - timedelta(hours=3), now + timedelta(minutes=40)])
        dated = rng.choice([None, now, now + timedelta(days=1)])
        await world.discharge_status(
            f"v{rng.randint(1, 14)}", rng.choice(["ready", "referred", "discharged"]),
            pathway="P1", local_authority="LA1", discharge_ready_at=ready,
            expected_discharge_date=dated and dated.astimezone(LONDON).date().isoformat(),
        )  # fmt: skip


async def test_memory_equals_a_full_recomputation_after_every_batch(
    clean_db: AsyncEngine,
) -> None:
    """World.settle asserts reconcile() == 0 after each evaluation: memory against the
    database, fact by fact, with the clock moving minutes to hours between batches (the
    last-hour window, 4/12-hour ED waits, the 48-hour horizon and midnight all crossed)."""
    world = await make_world(clean_db)
    rng = random.Random(17)
    # Two patients whose departure is never sent: in the department past the 48-hour horizon.
    await world.arrive_in_ed("lost1", "T1")
    await world.arrive_in_ed("lost2", "T2", area="RES")
    seen = {"nctr": 0, "expected_today": 0}
    for step in range(160):
        size = rng.choice([1, 1, 1, 2, 4])
        events = []
        for _ in range(size):
            visit, site = f"v{rng.randint(1, 12)}", rng.choice(SITES)
            events.append(_event(world, rng, visit, site))
        await _batch(world, events)
        await _other_traffic(world, rng, step)
        await world.advance(minutes=rng.choice([1, 5, 17, 45, 130, 400]))
        for site in SITES:
            for figure in seen:
                seen[figure] += world.metrics(site)["discharges"][figure]
    read = REGISTRY.get_sample_value("flowcc_engine_site_reads_total") or 0
    assert read > 0  # the touched sites were re-read (the writers without spell deltas)
    # Memory holds only what can still count: every spell in it counts now.
    now = world.clock.now()
    for memory in world.engine.keeper.live.sites.values():
        hour_ago, midnight = now - timedelta(hours=1), local_midnight(now)
        assert all(s.counts(hour_ago, midnight) for s in memory.spells.values())
        assert all(s.in_or_gone_today(midnight) for s in memory.inpatients.values())
    # ... and the discharge figures moved: NCTR and expected discharges were seen (compared
    # with the database's, fact by fact, above).
    assert seen["nctr"] > 0
    assert seen["expected_today"] > 0


def _list_reads() -> float:
    return REGISTRY.get_sample_value("flowcc_engine_discharge_list_reads_total") or 0.0


def _drift(site: str) -> float:
    return REGISTRY.get_sample_value("flowcc_engine_drift_total", {"site": site}) or 0.0


async def test_a_change_the_engine_was_not_told_of_is_found_counted_and_repaired(
    clean_db: AsyncEngine,
) -> None:
    world = await make_world(clean_db)
    await world.arrive_in_ed("a", "T1")
    await world.arrive_in_ed("b", "T1")
    await world.settle()
    assert world.metrics("T1")["ed"]["in_department"] == 2
    # A writer that bypasses the change feed: the database says one patient left ED.
    async with world.sessionmaker() as session, session.begin():
        await session.execute(
            update(Encounter)
            .where(Encounter.id == "TEST:a")
            .values(status="discharged", ed_departed_at=world.clock.now())
        )
    before = _drift("T1")
    assert await world.engine.reconcile() == 1  # found ...
    assert _drift("T1") == before + 1  # ... counted ...
    await world.engine.run_once()
    assert world.metrics("T1")["ed"]["in_department"] == 1  # ... and repaired
    assert await world.engine.reconcile() == 0


class _SlowReads:
    """The database read of a site, held open until told to finish (a change commits and is
    delivered while the engine is reading)."""

    def __init__(self, memory: SiteMemory) -> None:
        self.memory, self.reading, self.finish = memory, asyncio.Event(), asyncio.Event()

    async def site_memory(self, site: str, **_: Any) -> SiteMemory:
        self.reading.set()
        await self.finish.wait()
        return self.memory

    async def plans(self, **_: Any) -> dict[str, PlanFacts]:
        return {}

    async def ga_beds(self) -> frozenset[str]:
        return frozenset()


async def test_a_change_delivered_while_a_site_is_read_is_not_lost() -> None:
    now = START
    midnight = local_midnight(now)
    older = SiteMemory(
        units={"T1:ED": UnitInfo("T1:ED", "ed", "general_and_acute", 10, {})},
        counts={},
        spells={},  # read before the spell's commit
        journeys=[],
    )
    keeper, reads = FactsKeeper(), _SlowReads(older)
    keeper.reset(["T1"])
    reading = asyncio.create_task(keeper.read(cast(FlowRepository, reads), ["T1"], now, midnight))
    await reads.reading.wait()
    columns = {"site_code": "T1", "status": "ed", "ed_area": "MAJ", "ed_arrived_at": now}
    keeper.apply([spell_changed("TEST:a", columns)], now, midnight)
    reads.finish.set()
    await reading
    spell = keeper.live.sites["T1"].spells["TEST:a"]
    assert spell == SpellFacts.from_json("TEST:a", spell_changed("TEST:a", columns).data)
    assert spell.status == "ed"


async def test_a_diverted_ambulance_leaves_the_first_sites_queue_at_once(
    clean_db: AsyncEngine,
) -> None:
    """The journey's later event names another hospital: both sites are re-read (the first
    one's queue used to keep the vehicle until something else re-evaluated it)."""
    world = await make_world(clean_db)
    await world.ambulance("I9", "arrived_at_hospital", "T1")
    await world.settle()
    assert world.metrics("T1")["ambulance"]["waiting"] == 1
    async with world.sessionmaker() as session, session.begin():
        sites = await AmbulanceRepository(session).record_step(
            AmbulanceEvent(
                event_id="I9-divert",
                incident_id="I9",
                step="arrived_at_hospital",
                category=2,
                destination_site="T2",
                vehicle="VI9",
                occurred_at=world.clock.now(),
            )
        )
    assert sites == {"T1", "T2"}
    world.engine.touch(sites)
    await world.settle()
    assert world.metrics("T1")["ambulance"]["waiting"] == 0
    assert world.metrics("T2")["ambulance"]["waiting"] == 1


async def test_a_planned_spells_adt_moves_the_discharge_list_and_others_do_not_read_it(
    clean_db: AsyncEngine,
) -> None:
    """A spell's ADT re-reads the discharge lists only if the spell has a discharge plan."""
    world = await make_world(clean_db)
    await world.admit("p", "T1", "B01")
    await world.admit("q", "T1", "B02")
    await world.discharge_status(
        "p", "ready", pathway="P1", local_authority="LA1",
        discharge_ready_at=world.clock.now() - timedelta(hours=1),
    )  # fmt: skip
    await world.settle()
    assert len(world.view("discharges:LA1")["pending"]) == 1
    reads = _list_reads()
    await world.adt(
        "A02", "q", "T1", patient_class="I", location=Location(ward="W1", bed="B03", site="T1")
    )
    await world.settle()
    assert _list_reads() == reads  # q has no plan: no list read
    await world.adt("A03", "p", "T1", patient_class="I")
    await world.settle()
    assert _list_reads() == reads + 1
    assert world.view("discharges:LA1")["pending"] == []  # p went home


async def test_a_spell_written_in_a_rolled_back_attempt_is_not_published(
    clean_db: AsyncEngine,
) -> None:
    """As the consumer's per-record retry: an attempt that raises is rolled back to its
    SAVEPOINT, and the spells it wrote are not in the batch's changes (the engine would hold a
    spell the database does not)."""
    world = await make_world(clean_db)
    kept, lost = _admission(world, "ra", "B01"), _admission(world, "rb", "B02")
    async with world.sessionmaker() as session, session.begin():
        repository = _FailsAfterWriting(session)
        projector = OccupancyProjector(repository)
        async with session.begin_nested():
            await projector.apply_all([kept])
        repository.failing = True
        with contextlib.suppress(KeyError):
            async with session.begin_nested():
                await projector.apply_all([lost])
        deltas = await projector.deltas()
    assert [d.key for d in deltas if d.kind == "spell"] == ["TEST:ra"]
    async with world.sessionmaker() as session:
        assert await session.get(Encounter, "TEST:rb") is None  # rolled back
    await world.committed(deltas)
    await world.settle()  # memory equals the database


class _FailsAfterWriting(OccupancyRepository):
    """The real repository, with a bug met just after a batch's spells are written."""

    failing = False

    async def resolve_exceptions(self, encounter_ids: Sequence[str]) -> None:
        if self.failing:
            raise KeyError("a bug")
        await super().resolve_exceptions(encounter_ids)


def _admission(world: World, visit: str, bed: str) -> AdtEvent:
    return AdtEvent(
        source="TEST", message_id=f"m{next(world.ids)}", trigger="A01",
        event_time=world.clock.now(), time_source="EVN-6", encounter_key=f"TEST:{visit}",
        patient_id=f"P-{visit}", patient_class="I",
        location=Location(ward="W1", bed=bed, site="T1"),
    )  # fmt: skip


async def test_sites_evaluated_together_each_get_their_own_discharge_figures(
    clean_db: AsyncEngine,
) -> None:
    """The discharge figures of every site evaluated are read in one statement: each site's
    NCTR patients and expected discharges stay its own."""
    world = await make_world(clean_db)
    today = world.clock.now().astimezone(LONDON).date().isoformat()
    ready = world.clock.now() - timedelta(days=2)
    for visit, site, bed in (("a", "T1", "B01"), ("b", "T2", "B01"), ("c", "T2", "B02")):
        await world.admit(visit, site, bed, at=world.clock.now() - timedelta(days=5))
        await world.discharge_status(
            visit, "ready", pathway="P1", local_authority="LA1", discharge_ready_at=ready
        )
    await world.discharge_status("c", "ready", expected_discharge_date=today)
    world.engine.touch(["*"])  # both sites in one evaluation
    await world.settle()
    one, two = world.metrics("T1")["discharges"], world.metrics("T2")["discharges"]
    assert (one["nctr"], one["expected_today"]) == (1, 0)
    assert (two["nctr"], two["expected_today"]) == (2, 1)


async def test_a_planned_spell_back_from_a_discharge_before_today_counts_again(
    clean_db: AsyncEngine,
) -> None:
    """The engine holds the discharge plans of spells not ended before today: a discharge
    cancelled after midnight (A13) brings back a spell whose plan it let go — read again at
    once, not left for the reconciliation (World.settle fails on any drift)."""
    world = await make_world(clean_db)
    ready = world.clock.now() - timedelta(hours=2)
    await world.admit("back", "T1", "B01", at=world.clock.now() - timedelta(days=3))
    await world.discharge_status(
        "back", "ready", pathway="P1", local_authority="LA1", discharge_ready_at=ready
    )
    await world.settle()
    assert world.metrics("T1")["discharges"]["nctr"] == 1
    await world.adt("A03", "back", "T1", patient_class="I")
    await world.settle()
    assert world.metrics("T1")["discharges"]["nctr"] == 0
    await world.advance(hours=30)  # past midnight: the ended spell and its plan let go
    await world.engine.reconcile()
    assert "TEST:back" not in world.engine.keeper.live.plans
    await world.adt("A13", "back", "T1", patient_class="I")
    await world.settle()
    assert world.metrics("T1")["discharges"]["nctr"] == 1


class _PlansLostOnce:
    """A database whose first read of the discharge plans fails (a dropped connection)."""

    def __init__(self) -> None:
        self.reads = 0

    async def plans(self, **_: Any) -> dict[str, PlanFacts]:
        self.reads += 1
        if self.reads == 1:
            raise ConnectionError("connection lost")
        return {"TEST:a": PlanFacts("ready", "P1", None, "LA1", None, None)}

    async def ga_beds(self) -> frozenset[str]:
        return frozenset()


async def test_a_failed_read_of_the_plans_is_tried_again() -> None:
    keeper, flaky = FactsKeeper(), _PlansLostOnce()
    keeper.reset(["T1"])
    now = START
    with pytest.raises(ConnectionError):
        await keeper.read(cast(FlowRepository, flaky), [], now, local_midnight(now))
    await keeper.read(cast(FlowRepository, flaky), [], now, local_midnight(now))
    assert keeper.live.planned(["TEST:a"])
