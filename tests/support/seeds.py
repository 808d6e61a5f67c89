"""Seeded situations shared by tests: state written straight through the repositories (the
projections' own code), not through Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.carehomes.events import BedTypeReport, CareHomeReport
from app.carehomes.repository import CareHomeRepository
from app.db import create_sessionmaker
from app.discharge.events import DischargeStatusEvent
from app.discharge.repository import DischargeRepository
from app.occupancy.events import AdtEvent, Location
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy

NOW = datetime.now(UTC).replace(microsecond=0)
LA = "E06000901"


async def seed_waiting_patient(engine: AsyncEngine) -> str:
    """One P3 patient of LA waiting 3 days in RAN01, a nursing vacancy in a home of LA."""
    economy = EconomyConfig.load("deploy/economies/anyborough.yaml")
    home = next(
        h for h in economy.care_homes if h.local_authority == LA and "nursing" in h.capacity
    )
    async with create_sessionmaker(engine)() as session, session.begin():
        await load_economy(session, economy)
        admit = AdtEvent(
            source="RAN", message_id="m1", trigger="A01", event_time=NOW - timedelta(days=9),
            time_source="EVN-6", encounter_key="RAN:VN:VD1", patient_id="MRN77",
            nhs_number="9434765919", patient_class="I",
            location=Location(ward="AMU", bay="BAY1", bed="B02", site="RAN01"),
        )  # fmt: skip
        await OccupancyProjector(OccupancyRepository(session)).apply_all([admit])
        await DischargeRepository(session).record(
            DischargeStatusEvent(
                event_id="d1", spell_id="RAN:VN:VD1", status="ready", pathway="P3",
                local_authority=LA, needs_bed_type="nursing", delay_reason="x",
                discharge_ready_at=NOW - timedelta(days=3, hours=1), occurred_at=NOW,
            )
        )  # fmt: skip
        capacity = home.capacity["nursing"]
        await CareHomeRepository(session).record(
            CareHomeReport(
                report_id="r1", home_code=home.code, open_to_admissions=True,
                reported_at=NOW - timedelta(hours=5),
                beds=[BedTypeReport(bed_type="nursing", capacity=capacity,
                                    occupied=capacity - 2, vacant=2)],
            )
        )  # fmt: skip
    return home.code
