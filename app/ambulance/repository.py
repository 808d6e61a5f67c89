"""All SQL for ambulance journeys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.ambulance.events import AmbulanceEvent
from app.ambulance.models import AmbulanceJourney


class AmbulanceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_step(self, event: AmbulanceEvent) -> None:
        """An upsert whose result does not depend on arrival order: a step reported twice keeps
        its latest time (GREATEST); category, destination and vehicle come from the event that
        occurred last."""
        column = event.column()
        table = AmbulanceJourney.__table__
        statement = insert(AmbulanceJourney).values(
            incident_id=event.incident_id,
            category=event.category,
            destination_site=event.destination_site,
            vehicle=event.vehicle,
            last_event_at=event.occurred_at,
            **{column: event.occurred_at},
        )
        incoming = statement.excluded
        newer = incoming.last_event_at >= table.c.last_event_at

        def latest(name: str) -> Any:
            return case(
                (newer, func.coalesce(incoming[name], table.c[name])),
                else_=func.coalesce(table.c[name], incoming[name]),
            )

        statement = statement.on_conflict_do_update(
            index_elements=["incident_id"],
            set_={
                column: func.greatest(table.c[column], incoming[column]),
                "category": latest("category"),
                "destination_site": latest("destination_site"),
                "vehicle": latest("vehicle"),
                "last_event_at": func.greatest(table.c.last_event_at, incoming.last_event_at),
            },
        )
        await self.session.execute(statement)

    async def reset(self) -> None:
        """Forget everything (the demo's fresh start)."""
        await self.session.execute(text("TRUNCATE ambulance_journeys"))
