"""A tiny three-site economy and helpers that drive the real projector/repositories and the
flow engine on a manual clock — exact numbers, no Kafka needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.ambulance.events import AmbulanceEvent, Step
from app.ambulance.repository import AmbulanceRepository
from app.carehomes.events import BedTypeReport, CareHomeReport
from app.carehomes.repository import CareHomeRepository
from app.changes import Delta
from app.clock import ManualClock
from app.db import create_sessionmaker
from app.discharge.events import DischargeStatusEvent
from app.discharge.repository import DischargeRepository
from app.escalation.profile import load_profile
from app.flow.evaluator import Evaluator, EvaluatorConfig
from app.occupancy.events import AdtEvent, Location
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from tests.support.clock import gmt_midnight

# 10:00 on a recent day of GMT: local midnight is 00:00 UTC, no clock change in the scenarios.
START = gmt_midnight(days_before=30) + timedelta(hours=10)
SYSTEM = "TEST"


def economy() -> EconomyConfig:
    sites = [
        {
            "code": code,
            "org": "T",
            "name": f"Test site {code}",
            "kind": "acute",
            "local_authority": "LA1",
            "opel_weight": weight,
            "units": [
                {"code": "ED", "name": "ED", "kind": "ed", "areas": {"majors": 8, "resus": 2}},
                {
                    "code": "W1",
                    "name": "Ward 1",
                    "kind": "ward",
                    "specialty": "General medicine",
                    "beds": 10,
                    "escalation_beds": 2,
                },
            ],
        }
        for code, weight in (("T1", 0.5), ("T2", 0.3), ("T3", 0.2))
    ]
    return EconomyConfig.model_validate(
        {
            "code": SYSTEM,
            "name": "Test economy",
            "local_authorities": [{"code": "LA1", "name": "Test council"}],
            "organisations": [{"code": "T", "name": "Test trust", "kind": "acute_trust"}],
            "sites": sites,
            "care_homes": [
                {
                    "code": "CH1",
                    "name": "Elm House",
                    "local_authority": "LA1",
                    "capacity": {"nursing": 10, "residential": 10},
                },
            ],
        }
    )


@dataclass
class World:
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: ManualClock
    engine: Evaluator
    published: list[Delta] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: count(1))

    # ------------------------------------------------------------------ events in

    async def adt(self, trigger: str, visit: str, site: str, **fields: Any) -> None:
        event = AdtEvent(
            source="TEST",
            message_id=f"m{next(self.ids)}",
            trigger=trigger,
            event_time=fields.pop("at", self.clock.now()),
            time_source="EVN-6",
            encounter_key=f"TEST:{visit}",
            patient_id=f"P-{visit}",
            **fields,
        )
        async with self.sessionmaker() as session, session.begin():
            projector = OccupancyProjector(OccupancyRepository(session))
            await projector.apply_all([event])
            deltas = await projector.deltas()
        await self.committed(deltas)

    async def admit(self, visit: str, site: str, bed: str, **fields: Any) -> None:
        where = Location(ward="W1", bed=bed, site=site)
        await self.adt("A01", visit, site, patient_class="I", location=where, **fields)

    async def arrive_in_ed(self, visit: str, site: str, area: str = "MAJ", **fields: Any) -> None:
        where = Location(ward="ED", bay=area, site=site)
        await self.adt("A04", visit, site, patient_class="E", location=where, **fields)

    async def ambulance(self, incident: str, step: Step, site: str, **fields: Any) -> None:
        event = AmbulanceEvent(
            event_id=f"{incident}-{step}-{next(self.ids)}",
            incident_id=incident,
            step=step,
            category=2,
            destination_site=site,
            vehicle=f"V{incident}",
            occurred_at=fields.pop("at", self.clock.now()),
        )
        async with self.sessionmaker() as session, session.begin():
            sites = await AmbulanceRepository(session).record_step(event)
        self.engine.touch(sites | {site})  # as the consumer: where it was and is bound

    async def discharge_status(self, spell: str, status: str, **fields: Any) -> None:
        event = DischargeStatusEvent(
            event_id=f"d{next(self.ids)}",
            spell_id=f"TEST:{spell}",
            status=status,  # type: ignore[arg-type]
            occurred_at=fields.pop("at", self.clock.now()),
            **fields,
        )
        async with self.sessionmaker() as session, session.begin():
            await DischargeRepository(session).record(event)
        self.engine.touch(["*"])

    async def care_home_report(self, vacant_nursing: int, **fields: Any) -> None:
        report = CareHomeReport(
            report_id=f"r{next(self.ids)}",
            home_code="CH1",
            open_to_admissions=fields.pop("open_to_admissions", True),
            reported_at=fields.pop("at", self.clock.now()),
            beds=[
                BedTypeReport(
                    bed_type="nursing", capacity=10, occupied=10 - vacant_nursing,
                    vacant=vacant_nursing,
                )
            ],
        )  # fmt: skip
        async with self.sessionmaker() as session, session.begin():
            await CareHomeRepository(session).record(report)
        self.engine.touch(["carehomes"])

    # ------------------------------------------------------------------ engine out

    def view(self, view: str) -> dict[str, Any]:
        """The latest data the engine published for a whole-view delta (discharges:<la>)."""
        return next(d.data for d in reversed(self.published) if d.view == view)

    async def committed(self, deltas: list[Delta]) -> None:
        """As the service: committed changes go to the board (here: published) and the engine."""
        self.published.extend(deltas)
        await self.engine.committed(deltas)

    async def settle(self) -> list[Delta]:
        """Let the engine evaluate what is due; return what it published. Every time, its
        facts in memory must equal a full recomputation from the database (issue #17)."""
        before, drift = len(self.published), drifted()
        await self.engine.run_once()  # (itself reconciling, once a minute of the clock)
        assert await self.engine.reconcile() == 0, "the engine's memory drifted"
        assert drifted() == drift, "the engine's memory drifted (found by its own check)"
        return self.published[before:]

    async def advance(self, **delta: float) -> list[Delta]:
        self.clock.advance(timedelta(**delta))
        return await self.settle()

    def metrics(self, site: str) -> dict[str, Any]:
        return self.engine.state.metrics[site].model_dump()


def drifted() -> float:
    """Every site's differences between the engine's memory and the database, ever found."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "flowcc_engine_drift"
        for sample in metric.samples
        if sample.name == "flowcc_engine_drift_total"
    )


async def make_world(engine: AsyncEngine) -> World:
    sessionmaker = create_sessionmaker(engine)  # exactly as the service builds it
    async with sessionmaker() as session, session.begin():
        await load_economy(session, economy())
    clock = ManualClock(START)
    published: list[Delta] = []

    async def publish(deltas: list[Delta]) -> None:
        published.extend(deltas)

    config = EvaluatorConfig(
        profile=load_profile("deploy/escalation/opel-default.yaml"),
        system_scope=SYSTEM,
        reconcile_grace=0,  # nothing else writes: a difference is drift at once
    )
    flow = Evaluator(sessionmaker, publish, clock, config)
    await flow.start()
    return World(sessionmaker, clock, flow, published)
