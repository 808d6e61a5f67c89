"""Social-care discharge list, matching, audited identity and hub status updates through Kafka,
against a real uvicorn, PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.models import AuditEntry
from app.carehomes.repository import Vacancy
from app.config import Settings
from app.db import create_sessionmaker
from app.discharge.matching import matches_for
from app.discharge.repository import Pending
from tests.support.seeds import LA, NOW, seed_waiting_patient
from tests.support.services import isolated_kafka, live_server

NEIGHBOUR = "E10000902"


def _vacancy(home: str, la: str, vacant: int, **kw: object) -> Vacancy:
    values: dict[str, object] = {
        "home_code": home,
        "home_name": f"Home {home}",
        "local_authority": la,
        "bed_type": "nursing",
        "vacant": vacant,
        "vacant_not_admittable": 0,
        "open_to_admissions": True,
        "closure_reason": None,
        "reported_at": NOW - timedelta(days=1),
    }
    return Vacancy(**(values | kw))  # type: ignore[arg-type]


def test_matching_order_and_exclusions() -> None:
    person = Pending(
        "S1", "RAN01", "Oak", "P3", "ready", NOW, None, "nursing", LA, None
    )  # fmt: skip
    vacancies = [
        _vacancy("far", "E99", 3),  # not this LA nor a neighbour
        _vacancy("neigh", NEIGHBOUR, 2),
        _vacancy("stale", LA, 1, reported_at=NOW - timedelta(days=9)),
        _vacancy("older", LA, 1, reported_at=NOW - timedelta(days=3)),
        _vacancy("fresh", LA, 1, reported_at=NOW - timedelta(hours=2)),
        _vacancy("closed", LA, 4, open_to_admissions=False),
        _vacancy("full", LA, 1, vacant_not_admittable=1),
        _vacancy("resi", LA, 5, bed_type="residential"),
    ]
    found = matches_for(person, vacancies, {LA: [NEIGHBOUR]}, now=NOW)
    assert [m.home_code for m in found] == ["fresh", "older", "stale", "neigh"]
    assert [m.stale for m in found] == [False, False, True, False]
    p1 = Pending("S2", "RAN01", "Oak", "P1", "ready", NOW, None, None, LA, None)
    assert matches_for(p1, vacancies, {LA: [NEIGHBOUR]}, now=NOW) == []


async def auth(client: httpx.AsyncClient, user: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/dev-login", json={"username": user})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_the_hub_lists_matches_reveals_with_audit_and_updates_through_kafka(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    home = await seed_waiting_patient(clean_db)
    async with (
        live_server(isolated_kafka(settings)) as base,
        httpx.AsyncClient(base_url=f"http://{base}") as client,
    ):
        hub = await auth(client, "sc.anyborough")
        listed = await client.get("/api/v1/discharges", headers=hub)
        assert listed.status_code == 200, listed.text
        (person,) = listed.json()["items"]
        assert (person["site"], person["pathway"], person["days_since_ready"]) == ("RAN01", "P3", 3)
        assert person["matches"][0]["home"] == home
        assert person["matches"][0]["admittable"] == 2
        assert "9434765919" not in listed.text  # no identifier on the list
        assert "MRN77" not in listed.text
        assert "VD1" not in listed.text

        homes = await client.get(
            "/api/v1/care-homes",
            params={"bed_type": "nursing", "admittable_only": "true"},
            headers=hub,
        )
        assert [
            (h["home"], h["admittable"]["nursing"], h["stale"]) for h in homes.json()["items"]
        ] == [(home, 2, False)]

        ref = person["ref"]
        commander = await auth(client, "commander")
        refused = await client.get(f"/api/v1/discharges/{ref}/identity", headers=commander)
        assert refused.status_code == 403
        who = await client.get(f"/api/v1/discharges/{ref}/identity", headers=hub)
        assert who.json()["nhs_number"] == "9434765919"
        async with create_sessionmaker(clean_db)() as session:
            audit = (await session.execute(select(AuditEntry))).scalars().all()
        assert [(a.actor, a.action, a.resource) for a in audit] == [
            ("sc.anyborough", "read_identity", f"discharge:{ref}")
        ]

        sent = await client.post(
            f"/api/v1/discharges/{ref}/status", json={"status": "placement_found"}, headers=hub
        )
        assert sent.status_code == 202, sent.text
        for _ in range(100):  # through Kafka, the consumer and PostgreSQL
            items = (await client.get("/api/v1/discharges", headers=hub)).json()["items"]
            if items and items[0]["status"] == "placement_found":
                break
            await asyncio.sleep(0.1)
        assert items[0]["status"] == "placement_found"
        assert items[0]["pathway"] == "P3"  # the rest of the plan is kept
        async with create_sessionmaker(clean_db)() as session:
            changed = (await session.execute(select(AuditEntry).where(
                AuditEntry.action == "discharge.status_update"))).scalars().all()  # fmt: skip
        assert [(a.actor, a.resource, a.detail["status"]) for a in changed] == [
            ("sc.anyborough", f"discharge:{ref}", "placement_found")
        ]

        westvale = await auth(client, "sm.westvale")
        assert (await client.get("/api/v1/discharges", headers=westvale)).json()["items"] == []
        bad = await client.post(
            f"/api/v1/discharges/{ref}/status", json={"status": "teleported"}, headers=hub
        )
        assert bad.status_code == 422
