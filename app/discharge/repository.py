"""All SQL for discharge plans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import any_of
from app.db import table as table_of
from app.discharge.events import DischargeStatusEvent
from app.discharge.models import DischargeEvent, DischargePlan
from app.occupancy.models import Encounter
from app.topology.models import Bed, Unit

# Ready to leave but still in hospital: every status between "ready" and "discharged".
WAITING = ("ready", "referred", "assessment_booked", "package_sourced", "placement_found")


@dataclass(frozen=True)
class Pending:
    spell_id: str
    site: str | None
    ward: str | None
    pathway: str | None
    status: str
    discharge_ready_at: datetime | None
    delay_reason: str | None
    needs_bed_type: str | None
    local_authority: str | None
    expected_discharge_date: str | None


class DischargeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def plan(self, spell_id: str) -> DischargePlan | None:
        return await self.session.get(DischargePlan, spell_id)

    async def pending(self, local_authorities: Sequence[str], *, now: datetime) -> list[Pending]:
        """People ready to leave hospital and still in a bed, for these local authorities."""
        query = (
            select(
                DischargePlan.spell_id,
                Encounter.site_code.label("site"),
                Unit.name.label("ward"),
                DischargePlan.pathway,
                DischargePlan.status,
                DischargePlan.discharge_ready_at,
                DischargePlan.delay_reason,
                DischargePlan.needs_bed_type,
                DischargePlan.local_authority,
                DischargePlan.expected_discharge_date,
            )
            .join(Encounter, Encounter.id == DischargePlan.spell_id)
            .outerjoin(Bed, Bed.id == Encounter.bed_id)
            .outerjoin(Unit, Unit.id == Bed.unit_id)
            .where(
                Encounter.status == "admitted",
                DischargePlan.status.in_(WAITING),
                DischargePlan.discharge_ready_at <= now,
                DischargePlan.local_authority.in_(list(local_authorities)),
            )
            .order_by(DischargePlan.discharge_ready_at, DischargePlan.spell_id)
        )
        return [Pending(**row._mapping) for row in (await self.session.execute(query)).all()]

    async def identity(self, spell_id: str) -> tuple[str | None, str | None, str | None]:
        """(NHS number, local patient id, local authority) of a spell: identifiable data."""
        query = (
            select(Encounter.nhs_number, Encounter.patient_id, DischargePlan.local_authority)
            .outerjoin(DischargePlan, DischargePlan.spell_id == Encounter.id)
            .where(Encounter.id == spell_id)
        )
        row = (await self.session.execute(query)).first()
        if row is None:
            return None, None, None
        return row[0], row[1], row[2]

    async def record_many(self, events: Sequence[DischargeStatusEvent]) -> None:
        """Store the updates, then re-fold each touched spell's plan from all its updates."""
        if not events:
            return
        rows = [
            {
                "event_id": e.event_id,
                "spell_id": e.spell_key,
                "occurred_at": e.occurred_at,
                "fields": e.model_dump(mode="json", include=set(e.provided())),
            }
            for e in events
        ]
        await self.session.execute(
            insert(DischargeEvent).on_conflict_do_nothing(index_elements=["event_id"]), rows
        )
        spells = sorted({e.spell_key for e in events})
        query = select(DischargeEvent).where(any_of(DischargeEvent.spell_id, spells))
        history: dict[str, list[DischargeEvent]] = {}
        for stored in (await self.session.execute(query)).scalars():
            history.setdefault(stored.spell_id, []).append(stored)
        plans = [_plan(spell, updates) for spell, updates in history.items()]
        table = table_of(DischargePlan)
        statement = insert(table)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["spell_id"],
                set_={name: statement.excluded[name] for name in plans[0] if name != "spell_id"},
            ),
            plans,
        )

    async def record(self, *events: DischargeStatusEvent) -> None:
        await self.record_many(events)

    async def reset(self) -> None:
        """Forget everything (the demo's fresh start)."""
        await self.session.execute(text("TRUNCATE discharge_plans"))


PLAN_FIELDS = ("status", "discharge_ready_at", "pathway", "delay_reason", "needs_bed_type",
               "local_authority", "expected_discharge_date", "updated_by")  # fmt: skip


# Values of any type: one row of column values for the bulk upsert (SQLAlchemy's type).
def _plan(spell_id: str, updates: list[DischargeEvent]) -> dict[str, Any]:
    """Field by field, the latest update (occurred_at, then event id) that states it."""
    plan: dict[str, Any] = dict.fromkeys(PLAN_FIELDS) | {"spell_id": spell_id}
    for update in sorted(updates, key=lambda u: (u.occurred_at, u.event_id)):
        for name, value in update.fields.items():
            if name in PLAN_FIELDS:
                plan[name] = value
        plan["occurred_at"], plan["event_id"] = update.occurred_at, update.event_id
    if plan["discharge_ready_at"] is not None:
        plan["discharge_ready_at"] = datetime.fromisoformat(plan["discharge_ready_at"])
    return plan
