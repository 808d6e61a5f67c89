"""All SQL for discharge plans."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.discharge.events import DischargeStatusEvent
from app.discharge.models import DischargePlan


class DischargeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, event: DischargeStatusEvent) -> None:
        """Latest occurred_at wins (ties by event id), whatever the arrival order."""
        values = event.model_dump(exclude={"schema_version"})
        statement = insert(DischargePlan).values(values)
        table, incoming = DischargePlan.__table__, statement.excluded
        newer = (incoming.occurred_at > table.c.occurred_at) | (
            (incoming.occurred_at == table.c.occurred_at) & (incoming.event_id > table.c.event_id)
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["spell_id"],
                set_={name: incoming[name] for name in values if name != "spell_id"},
                where=newer,
            )
        )

    async def reset(self) -> None:
        """Forget everything (the demo's fresh start)."""
        await self.session.execute(text("TRUNCATE discharge_plans"))
