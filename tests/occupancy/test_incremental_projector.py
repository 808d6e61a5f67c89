"""The incremental fold through the projector on a real database (ADR 0008): spells whose events
arrive in order are advanced from their stored fold, and the rows and beds they leave are
exactly those a full re-fold of every stored history gives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.occupancy.events import Location
from app.occupancy.models import Encounter
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from app.topology.models import Bed
from tests.engine.flow_support import World, make_world


def folds(path: str) -> float:
    return REGISTRY.get_sample_value("flowcc_folds_total", {"path": path}) or 0.0


def ward(bed: str) -> Location:
    return Location(ward="W1", bed=bed, site="T1")


async def state(world: World) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """Every spell's derived columns and every bed's occupant."""
    skip = {"updated_at", "fold"}
    columns = [c for c in Encounter.__table__.columns if c.name not in skip]
    async with world.sessionmaker() as session:
        rows = (await session.execute(select(*columns).order_by(Encounter.id))).mappings()
        beds = await session.execute(
            select(Bed.id, Bed.occupant_encounter_id, Bed.occupied_since).order_by(Bed.id)
        )
        return [dict(row) for row in rows], [tuple(bed) for bed in beds]


async def test_spells_advanced_in_order_equal_a_full_refold(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    start = world.clock.now() - timedelta(hours=5)

    def t(minutes: float) -> Any:
        return start + timedelta(minutes=minutes)

    advanced, history = folds("advanced"), folds("history")
    await world.arrive_in_ed("a", "T1", at=t(0))
    await world.adt("A02", "a", "T1", patient_class="E",
                    location=Location(ward="ED", bay="RES", site="T1"), at=t(10))  # fmt: skip
    await world.adt("A06", "a", "T1", patient_class="I", location=ward("B01"), at=t(60))
    await world.admit("b", "T1", "B02", at=t(5))
    await world.adt("A02", "b", "T1", patient_class="I", location=ward("B03"), at=t(30))
    await world.adt("A16", "b", "T1", patient_class="I", location=ward("B03"), at=t(40))
    await world.adt("A03", "b", "T1", patient_class="I", at=t(90))
    await world.admit("c", "T1", "B04", at=t(20))
    await world.adt("A08", "c", "T1", patient_class="I", location=ward("B05"), at=t(70))
    assert folds("advanced") - advanced == 6  # every event after each spell's first
    assert folds("history") == history
    # A back-dated transfer (before c's last event) re-folds c's history.
    await world.adt("A02", "c", "T1", patient_class="I", location=ward("B06"), at=t(50))
    assert folds("history") - history == 1
    await world.adt("A02", "c", "T1", patient_class="I", location=ward("B07"), at=t(100))
    assert folds("advanced") - advanced == 7  # and the next in-order one advances again

    advanced_state = await state(world)
    assert advanced_state[0][0]["bed_id"] == "T1:W1:B01"
    async with world.sessionmaker() as session, session.begin():
        await session.execute(update(Encounter).values(fold=None))
        projector = OccupancyProjector(OccupancyRepository(session))
        await projector.refold(["TEST:a", "TEST:b", "TEST:c"])
    assert await state(world) == advanced_state
