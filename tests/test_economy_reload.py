"""The economy is configuration: editing its YAML changes the running service (no restart), and
an invalid edit is refused while the running economy stays."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import startup
from app.config import Settings
from app.db import create_sessionmaker
from app.deps import Resources
from app.kafka import KafkaGateway
from app.main import create_app
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy

pytestmark = pytest.mark.usefixtures("clean_db")


async def test_a_new_ward_appears_and_a_broken_file_is_refused(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(startup, "ECONOMY_POLL_SECONDS", 0.1)
    economy = yaml.safe_load(Path("deploy/economies/anyborough.yaml").read_text())
    path = tmp_path / "economy.yaml"
    path.write_text(yaml.safe_dump(economy))
    app = create_app(settings.model_copy(update={"economy_file": str(path)}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        login = await client.post("/api/v1/auth/dev-login", json={"username": "commander"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        before = (await client.get("/api/v1/sites/RAN01/flow", headers=headers)).json()

        site = next(s for s in economy["sites"] if s["code"] == "RAN01")
        site["units"].append({"code": "NEW", "name": "Winter Ward", "kind": "ward", "beds": 12})
        path.write_text(yaml.safe_dump(economy))
        for _ in range(100):
            flow = (await client.get("/api/v1/sites/RAN01/flow", headers=headers)).json()
            assert "beds" in flow, flow
            if flow["beds"]["open"] == before["beds"]["open"] + 12:
                break
            await asyncio.sleep(0.1)
        assert flow["beds"]["open"] == before["beds"]["open"] + 12
        site_view = (await client.get("/api/v1/sites/RAN01", headers=headers)).json()
        assert "RAN01:NEW" in {unit["id"] for unit in site_view["units"]}

        path.write_text("sites: [this is not an economy")
        await asyncio.sleep(0.5)
        still = (await client.get("/api/v1/sites/RAN01/flow", headers=headers)).json()
        assert still["beds"]["open"] == before["beds"]["open"] + 12


async def test_an_unchanged_economy_is_not_loaded_again_at_start(
    settings: Settings, clean_db: AsyncEngine, tmp_path: Path
) -> None:
    """A restart with the same file skips the upsert of every bed; any edit loads it."""
    economy = yaml.safe_load(Path("deploy/economies/anyborough.yaml").read_text())
    path = tmp_path / "economy.yaml"
    path.write_text(yaml.safe_dump(economy))
    resources = Resources(
        settings.model_copy(update={"economy_file": str(path)}),
        clean_db,
        create_sessionmaker(clean_db),
        KafkaGateway(settings.kafka),
    )

    async def loaded() -> tuple[Any, ...]:
        async with clean_db.connect() as connection:
            version = (
                await connection.execute(text("SELECT digest, loaded_at FROM economy_versions"))
            ).one()
            beds = await connection.scalar(text("SELECT count(*) FROM beds"))
        return (*version, beds)

    await startup.load_configured_economy(resources)
    first = await loaded()
    await startup.load_configured_economy(resources)  # a restart, same file
    assert await loaded() == first

    site = next(s for s in economy["sites"] if s["code"] == "RAN01")
    site["units"].append({"code": "NEW", "name": "Winter Ward", "kind": "ward", "beds": 12})
    path.write_text(yaml.safe_dump(economy))
    await startup.load_configured_economy(resources)
    digest, loaded_at, beds = await loaded()
    assert digest != first[0]
    assert loaded_at != first[1]
    assert beds == first[2] + 12


async def test_a_loaded_economy_is_planned_at_its_size(clean_db: AsyncEngine) -> None:
    """Loaded into empty tables, the topology is analyzed at once: autovacuum would look only a
    minute or more later, and until then PostgreSQL planned the beds as empty (the engine's
    discharge figures nested-looped over every bed for each spell, 25-49 ms an evaluation)."""
    async with clean_db.begin() as connection:  # never analyzed, or emptied: size unknown
        await connection.execute(text("TRUNCATE beds, units, sites, care_homes CASCADE"))
    economy = EconomyConfig.load("deploy/economies/anyborough.yaml")
    async with create_sessionmaker(clean_db)() as session, session.begin():
        counts = await load_economy(session, economy)
    async with clean_db.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT relname, reltuples FROM pg_class "
                "WHERE relname IN ('beds', 'units', 'sites', 'care_homes')"
            )
        )
        planned: dict[str, float] = {row.relname: row.reltuples for row in rows}
    assert planned == {
        "beds": counts["beds"],
        "units": counts["units"],
        "sites": counts["sites"],
        "care_homes": counts["care_homes"],
    }
