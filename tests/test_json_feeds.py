"""The JSON feeds on the v2 rules (issue #14), through the real broker and consumer: ambulance
steps keep their first time, one incident with two patients is two handovers, an unknown site is
a dead letter; a discharge update changes only what it states (in any arrival order) and may name
the spell by the sender's own visit number; a closed care home is closed for every bed type."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app import topics
from app.ambulance.models import AmbulanceJourney
from app.carehomes.models import CareHomeVacancy
from app.config import Settings
from app.discharge.models import DischargePlan
from app.ingest.models import DeadLetter
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from tests.factories import T0
from tests.support.kafka import consume_until, own_topics, produce


@pytest.fixture
async def economy(clean_db: AsyncEngine, settings: Settings) -> Settings:
    async with async_sessionmaker(clean_db)() as session, session.begin():
        await load_economy(session, EconomyConfig.load("deploy/economies/anyborough.yaml"))
    return await own_topics(settings, prefix="j")


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def dump(*documents: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(b"k", json.dumps(d).encode()) for d in documents]


async def test_ambulance_steps(economy: Settings, clean_db: AsyncEngine) -> None:
    def step(event: str, step: str, minutes: float, **more: Any) -> dict[str, Any]:
        return {"event_id": event, "incident_id": "I1", "step": step, "category": 2,
                "destination_site": "RAN01", "occurred_at": at(minutes)} | more  # fmt: skip

    produce(
        economy,
        dump(
            step("a", "arrived_at_hospital", 10),
            step("a-again", "arrived_at_hospital", 25),  # re-sent later: the first time stays
            step("b1", "arrived_at_hospital", 12, patient="2"),  # a second patient
            step("c", "arrived_at_hospital", 10, destination_site="NOWHERE", incident_id="I9"),
        ),
        topics.AMBULANCE,
    )
    await consume_until(economy, clean_db, 4)
    async with async_sessionmaker(clean_db)() as session:
        journeys = {
            (j.incident_id, j.patient): j for j in await session.scalars(select(AmbulanceJourney))
        }
        letters = (await session.scalars(select(DeadLetter))).all()
    assert set(journeys) == {("I1", ""), ("I1", "2")}
    assert journeys[("I1", "")].arrived_at == datetime.fromisoformat(at(10))
    assert journeys[("I1", "2")].arrived_at == datetime.fromisoformat(at(12))
    assert [(d.error_kind, "NOWHERE" in d.error_message) for d in letters] == [
        ("invalid_value", True)
    ]


async def test_discharge_updates_change_only_what_they_state(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    full = {"event_id": "d1", "spell_id": "RAN:VN:V1", "status": "ready", "pathway": "P2",
            "needs_bed_type": "nursing", "local_authority": "E06000901",
            "discharge_ready_at": at(0), "occurred_at": at(0)}  # fmt: skip
    later = {"event_id": "d2", "visit_number": "V1", "visit_authority": "RAN",
             "status": "assessment_booked", "occurred_at": at(60)}  # fmt: skip
    produce(economy, dump(later, full), topics.DISCHARGE_STATUS)  # the newer one first
    await consume_until(economy, clean_db, 2)
    async with async_sessionmaker(clean_db)() as session:
        plan = await session.get(DischargePlan, "RAN:VN:V1")
    assert plan is not None
    assert (plan.status, plan.pathway, plan.needs_bed_type) == (
        "assessment_booked",
        "P2",
        "nursing",
    )
    assert plan.local_authority == "E06000901"


async def test_a_closed_home_is_closed_for_every_bed_type(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    def report(report_id: str, minutes: float, open_: bool, *types: str) -> dict[str, Any]:
        beds = [{"bed_type": t, "capacity": 10, "occupied": 8, "vacant": 2} for t in types]
        return {"report_id": report_id, "home_code": "1-100000000", "open_to_admissions": open_,
                "reported_at": at(minutes), "beds": beds}  # fmt: skip

    produce(
        economy,
        dump(report("r1", 0, True, "nursing", "residential"), report("r2", 30, False, "nursing")),
        topics.CAREHOME_BEDS,
    )
    await consume_until(economy, clean_db, 2)
    async with async_sessionmaker(clean_db)() as session:
        rows = {v.bed_type: v.open_to_admissions for v in await session.scalars(
            select(CareHomeVacancy).where(CareHomeVacancy.home_code == "1-100000000")
        )}  # fmt: skip
    assert rows == {"nursing": False, "residential": False}
