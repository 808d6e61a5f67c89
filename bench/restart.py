"""Restart at regional scale: 10 acute sites × 1,000 beds (9,300 occupied), 300 care homes,
1,000 patients in ED and 1,000 ambulances waiting → time from process start to /readyz 200,
and the state after the restart compared with the state before it."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from app.ambulance.events import AmbulanceEvent
from app.ambulance.repository import AmbulanceRepository
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.occupancy.events import AdtEvent, Location
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from bench import server as server_process
from tests.support.clock import gmt_midnight

SITES, WARDS, BEDS_PER_WARD = 10, 40, 25
NOW = gmt_midnight() + timedelta(hours=16)  # the fixed engine clock: a recent afternoon


def regional_economy(site_count: int = SITES) -> dict[str, Any]:
    las = [{"code": f"LA{n}", "name": f"Authority {n}"} for n in range(1, 4)]
    sites = [
        {
            "code": f"S{n:02d}", "org": "R", "name": f"Regional hospital {n}", "kind": "acute",
            "local_authority": f"LA{n % 3 + 1}", "opel_weight": 0.1,
            "units": [{"code": "ED", "name": "ED", "kind": "ed", "areas": {"majors": 60}}]
            + [
                {"code": f"W{w:02d}", "name": f"Ward {w}", "kind": "ward", "beds": BEDS_PER_WARD}
                for w in range(1, WARDS + 1)
            ],
        }
        for n in range(1, site_count + 1)
    ]  # fmt: skip
    homes = [
        {"code": f"H{n:04d}", "name": f"Home {n}", "local_authority": f"LA{n % 3 + 1}",
         "capacity": {"residential": 20, "nursing": 20}}
        for n in range(300)
    ]  # fmt: skip
    return {
        "code": "REG", "name": "Regional benchmark economy", "local_authorities": las,
        "organisations": [{"code": "R", "name": "Regional trust", "kind": "acute_trust"}],
        "sites": sites, "care_homes": homes,
    }  # fmt: skip


async def populate(settings: Settings, economy: EconomyConfig) -> None:
    engine = create_engine(settings.db)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        await load_economy(session, economy)
    n = 0
    for site in economy.sites:
        events = []
        for ward in site.units[1:]:
            for bed in range(1, ward.beds + 1):
                n += 1
                if n % 100 >= 93:
                    continue
                events.append(_adt("A01", f"V{n}", site.code, ward.code, f"B{bed:02d}", "I"))
        events += [_adt("A04", f"E{site.code}{k}", site.code, "ED", "", "E") for k in range(100)]
        async with sessionmaker() as session, session.begin():
            await OccupancyProjector(OccupancyRepository(session)).apply_all(events)
        async with sessionmaker() as session, session.begin():
            ambulance = AmbulanceRepository(session)
            for k in range(100):
                await ambulance.record_step(
                    AmbulanceEvent(
                        event_id=f"A{site.code}{k}", incident_id=f"I{site.code}{k}",
                        step="arrived_at_hospital", category=2, destination_site=site.code,
                        occurred_at=NOW - timedelta(minutes=k),
                    )
                )  # fmt: skip
    await engine.dispose()


def _adt(trigger: str, visit: str, site: str, ward: str, bed: str, cls: str) -> AdtEvent:
    return AdtEvent(
        source="R", message_id=f"{visit}-{trigger}", trigger=trigger,
        event_time=NOW - timedelta(hours=3), time_source="EVN-6", encounter_key=f"R:VN:{visit}",
        patient_class=cls, location=Location(ward=ward, bay="BAY1", bed=bed, site=site),
    )  # fmt: skip


async def _serve_and_capture(
    env: dict[str, str], port: int, sites: list[str]
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    server = server_process.start(env, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.02)
            ready = time.perf_counter() - started
            login = await client.post("/api/v1/auth/dev-login", json={"username": "commander"})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            state = {}
            for site in sites:
                body = (await client.get(f"/api/v1/sites/{site}", headers=headers)).json()
                body["metrics"].pop("as_of", None)
                body["metrics"]["opel"].pop("computed_at", None)
                state[site] = body
        return ready, state
    finally:
        server.terminate()
        server.wait(timeout=30)


async def run(settings: Settings, port: int, site_count: int = SITES) -> dict[str, Any]:
    import os

    economy_dict = regional_economy(site_count)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(economy_dict, handle)
    economy = EconomyConfig.model_validate(economy_dict)
    await populate(settings, economy)
    env = dict(os.environ) | {
        "DATABASE_URL": settings.db.url,
        "FLOWCC_ECONOMY_FILE": handle.name,
        "FLOWCC_ENVIRONMENT": "development",
        "FLOWCC_CLOCK": "fixed",
        "FLOWCC_CLOCK_START": NOW.isoformat(),
        "KAFKA_TOPIC_PREFIX": f"r{uuid.uuid4().hex[:6]}.",
        "KAFKA_GROUP_ID": f"restart-{uuid.uuid4()}",
    }
    sites = [site.code for site in economy.sites]
    first_ready, before = await _serve_and_capture(env, port, sites)
    ready, after = await _serve_and_capture(env, port, sites)
    Path(handle.name).unlink()
    occupied = sum(s["metrics"]["beds"]["occupied"] for s in after.values())
    return {
        "beds": site_count * WARDS * BEDS_PER_WARD,
        "occupied": occupied,
        "care_homes": len(economy.care_homes),
        "ed_and_ambulance_items": sum(
            s["metrics"]["ed"]["in_department"] + s["metrics"]["ambulance"]["waiting"]
            for s in after.values()
        ),
        "first_start_seconds": first_ready,
        "restart_seconds": ready,
        "identical": before == after,
    }
