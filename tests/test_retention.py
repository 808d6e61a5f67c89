"""Retention (issue #15): `flowcc purge` strips identifiers from spells that ended longer ago
than the window and deletes old bookkeeping — and every number the engine computes is the same
before and after, recomputed from the database by a fresh engine."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import RetentionSettings, Settings
from app.flow.evaluator import Evaluator
from app.ingest.models import DeadLetter
from app.ingest.repository import IngestRepository
from app.occupancy.models import Encounter, EncounterEvent
from app.retention.service import purge_now
from tests.engine.flow_support import START, World, make_world

NHS = {"old": "9000000009", "recent": "9000000017", "current": "9000000025"}


async def _people(world: World) -> None:
    at = START - timedelta(days=50)
    for visit, bed, admitted, left in (
        ("old", "B01", at, START - timedelta(days=40)),
        ("recent", "B02", START - timedelta(days=10), START - timedelta(days=5)),
        ("current", "B03", START - timedelta(days=3), None),
    ):
        await world.admit(visit, "T1", bed, at=admitted, nhs_number=NHS[visit])
        if left is not None:
            await world.adt("A03", visit, "T1", patient_class="I", at=left)
    await world.arrive_in_ed("ed", "T1", at=START - timedelta(hours=1))
    await world.discharge_status(
        "current", "ready", pathway="P1", discharge_ready_at=START - timedelta(days=1)
    )


async def _figures(world: World) -> dict[str, Any]:
    """Every site's metrics and every bed, from a fresh engine reading the database."""
    fresh = Evaluator(world.sessionmaker, _ignore, world.clock, world.engine.config)
    await fresh.start()
    await fresh.run_once()
    async with world.sessionmaker() as session:
        beds = (await session.execute(text("SELECT id, occupant_encounter_id FROM beds"))).all()
    return {"metrics": fresh.state.metrics, "beds": sorted(map(tuple, beds))}


async def _ignore(_: Any) -> None:
    return None


async def _dead_letters(world: World) -> None:
    async with world.sessionmaker() as session, session.begin():
        ingest = IngestRepository(session)
        for offset in range(3):
            await ingest.add_dead_letter(
                topic="t.adt.hl7v2", partition=0, offset=offset, key=None, raw=b"MSH|PID...",
                error_kind="invalid_value", error_message="x",
            )  # fmt: skip
        await session.execute(
            update(DeadLetter)
            .where(DeadLetter.offset == 0)
            .values(first_seen=START - timedelta(days=20))
        )
        await session.execute(
            update(DeadLetter).where(DeadLetter.offset == 1).values(resubmitted_at=START)
        )


async def test_purge_strips_identifiers_and_changes_no_number(clean_db: AsyncEngine) -> None:
    world = await make_world(clean_db)
    await _people(world)
    await _dead_letters(world)
    await world.settle()
    before = await _figures(world)

    purged = await purge_now(world.sessionmaker, RetentionSettings(), START)

    assert purged.people_forgotten == 1
    assert purged.dead_letters == 2
    assert await _figures(world) == before, "purging changed a figure"
    async with world.sessionmaker() as session:
        people = {
            e.id: (e.patient_id, e.nhs_number)
            for e in (await session.scalars(select(Encounter))).all()
        }
        payloads = {
            (e.encounter_id, key)
            for e in (await session.scalars(select(EncounterEvent))).all()
            for key in e.payload
            if key in ("patient_id", "nhs_number")
        }
        letters = [d.offset for d in (await session.scalars(select(DeadLetter))).all()]
        folds = dict((await session.execute(select(Encounter.id, Encounter.fold))).all())
    assert people["TEST:old"] == (None, None)
    assert people["TEST:recent"] == ("P-recent", NHS["recent"])
    assert people["TEST:current"] == ("P-current", NHS["current"])
    assert not {key for key in payloads if key[0] == "TEST:old"}
    # The stored fold names the patient too (ADR 0008): forgotten with the spell's identifiers.
    assert folds["TEST:old"] is None
    assert folds["TEST:recent"] is not None
    assert ("TEST:recent", "nhs_number") in payloads
    assert letters == [2]
    again = await purge_now(world.sessionmaker, RetentionSettings(), START)
    assert (again.people_forgotten, again.dead_letters) == (0, 0), "a second purge is a no-op"


def test_flowcc_purge_runs_against_the_configured_database(settings: Settings) -> None:
    env = dict(os.environ) | {"DATABASE_URL": settings.db.url}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "purge"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "purged: people forgotten " in done.stdout.splitlines()[-1]
