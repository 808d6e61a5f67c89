"""Onboarding a real trust's feed (issue #14): its own PAS location codes land in location
exceptions grouped by code; a mapping (the feeds file, reloaded without a restart) places every
held spell with its own times — nothing lost, nothing replayed; training traffic is counted, not
applied; `flowcc locations suggest` proposes the mapping; the feed report says all of it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.occupancy.events import Location
from app.occupancy.mapping import LocationMap
from app.simulation.hl7 import Patient, Place, adt_message
from tests.support import bearer
from tests.support.clock import T0
from tests.support.kafka import produce
from tests.support.services import caught_up, isolated_kafka, live_server

PATIENT = Patient("MRN9", "9000000041", "Feed", "Test", "19500101", "M")
MAPPING = {
    "organisations": [
        {
            "source": "RAN",
            "site": "RAN01",
            "rules": [
                {
                    "when": {"ward": "T42E", "bed": r"/(\d+)$/"},
                    "to": {"ward": "AMU", "bed": "B{1:02}"},
                }
            ],
        }
    ]
}


def pas(trigger: str, minutes: int, visit: str, ward: str, bed: str, **extra: Any) -> bytes:
    """A message as a trust's PAS sends it: its own codes, no facility in PV1-3."""
    return adt_message(
        trigger=trigger, control_id=f"{visit}-{trigger}-{minutes}", sending_facility="RAN",
        patient=PATIENT, visit_number=visit, patient_class=extra.pop("cls", "I"),
        event_time=T0 + timedelta(minutes=minutes), location=Place("", ward, ward + " BY02", bed),
        **extra,
    )  # fmt: skip


async def test_unknown_codes_are_held_then_placed_by_a_mapping(
    settings: Settings, clean_db: AsyncEngine, tmp_path: Path
) -> None:
    feeds = tmp_path / "anyborough.feeds.yaml"
    app_settings = isolated_kafka(settings).model_copy(update={"feeds_file": str(feeds)})
    async with (
        live_server(app_settings) as base,
        httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as client,
    ):
        produce(
            app_settings,
            [
                (b"VT1", pas("A01", 0, "VT1", "T42E", "BY02-7")),
                (b"VT2", pas("A01", 5, "VT2", "T42E", "BY02-17")),
                (b"VT2", pas("A02", 65, "VT2", "T42E", "BY02-18")),
                (b"VT3", pas("A01", 10, "VT3", "T42E", "BY02-9", processing_id="T")),
            ],
        )
        await caught_up(app_settings, clean_db)
        admin = await bearer(client, "admin")
        summary = (await client.get("/api/v1/location-exceptions/summary", headers=admin)).json()
        codes = {c["location_text"]: c for c in summary["codes"]}
        assert set(codes) == {"T42E^T42E BY02^BY02-7", "T42E^T42E BY02^BY02-17",
                              "T42E^T42E BY02^BY02-18"}  # fmt: skip
        assert all(c["held"] == c["messages"] == 1 for c in codes.values())
        assert codes["T42E^T42E BY02^BY02-7"]["sites"] == ["RAN01"]  # no PL.4: the sender's site
        assert await _occupant(client, admin, "B07") is None

        proposal = _suggest(app_settings)
        assert "T42E" in proposal
        LocationMap.model_validate(yaml.safe_load(proposal))  # a valid feeds file

        feeds.write_text(yaml.safe_dump(MAPPING))  # the integrator saves the checked mapping
        for _ in range(150):
            if await _occupant(client, admin, "B18"):
                break
            await asyncio.sleep(0.1)
        bed_07, bed_18 = (
            await _occupant(client, admin, "B07"),
            await _occupant(client, admin, "B18"),
        )
        assert bed_07 is not None
        assert bed_07["occupied_since"] == T0.isoformat()
        assert bed_18 is not None, "the spell that moved: placed in its latest bed"
        assert bed_18["occupied_since"] == (T0 + timedelta(minutes=65)).isoformat()
        assert await _occupant(client, admin, "B17") is None
        assert await _occupant(client, admin, "B09") is None, "training traffic is not applied"
        after = (await client.get("/api/v1/location-exceptions/summary", headers=admin)).json()
        assert all(c["held"] == 0 for c in after["codes"]), "every held spell placed"

        report = (await client.get("/api/v1/feeds", headers=admin)).json()
        (ran,) = [s for s in report["sources"] if s["source"] == "RAN"]
        assert ran["by_trigger"] == {"A01": 2, "A02": 1}
        assert ran["dropped"] == {"T": 1}
        assert ran["location_codes"] == 3
        assert ran["held_in_exception"] == 0


async def _occupant(client: httpx.AsyncClient, headers: dict[str, str], bed: str) -> Any:
    site = (await client.get("/api/v1/sites/RAN01", headers=headers)).json()
    state = site["beds"][f"RAN01:AMU:{bed}"]
    return state if state["occupied"] else None


def _suggest(settings: Settings) -> str:
    env = dict(os.environ) | {"DATABASE_URL": settings.db.url}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "locations", "suggest"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_expression_groups_are_numbered_in_the_locations_order_not_the_written_one() -> None:
    """A mapping is stored as JSONB, which keeps no key order: ``{1}`` must mean the same
    group however the rule was written or read back (found by the ground-truth test: the
    shipped Westvale mapping placed no bed once it came back from the database)."""
    written = {
        "when": {"bed": r"/-(\d+)$/", "ward": "/^RWV(.+)$/"},
        "to": {"ward": "{1}", "bed": "B{2:02}"},
    }
    stored = {"when": dict(reversed(written["when"].items())), "to": written["to"]}
    for rule in (written, stored):
        mapping = LocationMap.model_validate(
            {"organisations": [{"source": "RWV", "site": "RWV01", "rules": [rule]}]}
        )
        location = Location(ward="RWVALD15", bay="ALD15 BAY1", bed="ALD15-7")
        placed = mapping.location("RWV", location)
        assert placed == Location(site="RWV01", ward="ALD15", bay="ALD15 BAY1", bed="B07")
