"""All SQL for ambulance journeys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnClause, Table, case, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.ambulance.events import STEP_COLUMNS, AmbulanceEvent
from app.ambulance.models import AmbulanceJourney
from app.db import as_arrays, unnested
from app.db import table as table_of


class AmbulanceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_steps(self, events: Sequence[AmbulanceEvent]) -> set[str]:
        """Many steps in one statement: each incident's steps are merged first (in occurrence
        order, as one by one would) and the merged row is upserted with the same rules.
        Returns the sites the journeys were bound for before and after (a diverted vehicle
        leaves one site's figures for another's)."""
        # Values of any type: one row of column values for the bulk upsert (SQLAlchemy's type).
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
            row = merged.setdefault(
                (event.incident_id, event.patient),
                {"incident_id": event.incident_id, "patient": event.patient, "vehicle": None,
                 "destination_site": None} | dict.fromkeys(STEP_COLUMNS.values()),
            )  # fmt: skip
            column = event.column()
            # A step reported again keeps its first time: a re-sent arrival must not shorten
            # the handover.
            row[column] = min(row[column] or event.occurred_at, event.occurred_at)
            row["category"] = event.category
            row["destination_site"] = event.destination_site or row["destination_site"]
            row["vehicle"] = event.vehicle or row["vehicle"]
            row["last_event_at"] = event.occurred_at
        if not merged:
            return set()
        after = await self.session.execute(RECORD_STEPS, as_arrays(list(merged.values()), _COLUMNS))
        return {site for row in after for site in row if site}

    async def record_step(self, event: AmbulanceEvent) -> set[str]:
        """One step: a step reported twice keeps its first time (LEAST); category,
        destination and vehicle come from the event that occurred last."""
        return await self.record_steps([event])

    async def reset(self) -> None:
        """Forget everything (the demo's fresh start)."""
        await self.session.execute(text("TRUNCATE ambulance_journeys"))


_COLUMNS = ["incident_id", "patient", "vehicle", "destination_site", *STEP_COLUMNS.values(),
            "category", "last_event_at"]  # fmt: skip


def _record_steps() -> Any:
    """The merged rows upserted, built once, whatever the batch's size (arrays, one per
    column: building it was ~10 % of a JSON batch's Python, and a VALUES list of each new
    length was a new statement to prepare)."""
    table = table_of(AmbulanceJourney)
    rows = unnested(table, _COLUMNS)
    statement = insert(table).from_select(_COLUMNS, select(*(rows.c[name] for name in _COLUMNS)))
    incoming = statement.excluded
    newer = incoming.last_event_at >= table.c.last_event_at

    def latest(name: str) -> Any:
        return case(
            (newer, func.coalesce(incoming[name], table.c[name])),
            else_=func.coalesce(table.c[name], incoming[name]),
        )

    return statement.on_conflict_do_update(
        index_elements=["incident_id", "patient"],
        set_={
            **{
                column: func.least(table.c[column], incoming[column])
                for column in STEP_COLUMNS.values()
            },
            "category": latest("category"),
            "destination_site": latest("destination_site"),
            "vehicle": latest("vehicle"),
            "last_event_at": func.greatest(table.c.last_event_at, incoming.last_event_at),
        },
    ).returning(table.c.destination_site, _before(table))


def _before(table: Table) -> ColumnClause[Any]:
    """A journey's destination before this statement: a sub-select in RETURNING reads the
    statement's snapshot, which does not see the statement's own writes (so a diversion is
    known in the same round trip, no read before the upsert)."""
    name = table.name
    return literal_column(
        f"(SELECT b.destination_site FROM {name} AS b WHERE b.incident_id = {name}.incident_id"
        f" AND b.patient = {name}.patient)"
    )


RECORD_STEPS = _record_steps()
