"""All SQL of the feeds: each sender's stored configuration, the counters of what leaves no
other trace, and the feed conformance report's aggregates. Here, beside the ADT projection that
writes them (app/feeds, the onboarding tools, reads them: issue #19's one-way graph)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.occupancy.models import FeedCounter, LocationException, LocationMapRow

# The stored event fields the report counts by (app/occupancy/events.py AdtEvent).
EVENT_FIELDS = frozenset({"trigger", "hl7_version", "processing_id", "time_precision"})


class FeedRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace_location_maps(
        self, rows: dict[str, dict[str, object]], digests: dict[str, str]
    ) -> bool:
        """Make ``location_maps`` exactly these senders' rows; True if anything changed."""
        stored = dict((await self.session.execute(
            select(LocationMapRow.source, LocationMapRow.digest)
        )).all())  # fmt: skip
        gone = set(stored) - set(rows)
        changed = {s for s in rows if stored.get(s) != digests[s]}
        if gone:
            await self.session.execute(
                delete(LocationMapRow).where(LocationMapRow.source.in_(sorted(gone)))
            )
        for source in sorted(changed):
            statement = insert(LocationMapRow).values(
                source=source, mapping=rows[source], digest=digests[source]
            )
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["source"],
                    set_={
                        "mapping": rows[source],
                        "digest": digests[source],
                        "loaded_at": func.now(),
                    },
                )
            )
        return bool(gone or changed)

    async def counters(self) -> list[tuple[str, str, int]]:
        rows = await self.session.execute(
            select(FeedCounter.source, FeedCounter.counter, FeedCounter.count)
        )
        return [(source, counter, int(count)) for source, counter, count in rows.all()]

    async def events_by(self, field: str, *, since: datetime) -> list[tuple[str, str, int]]:
        """(source, the payload field's value, stored events) for one of EVENT_FIELDS."""
        if field not in EVENT_FIELDS:
            raise ValueError(f"not a reported field: {field}")
        query = text(
            f"SELECT payload->>'source', coalesce(payload->>'{field}', ''), count(*) "
            "FROM encounter_events WHERE received_at >= :since GROUP BY 1, 2"
        )
        rows = await self.session.execute(query, {"since": since})
        return [(s or "?", v, int(n)) for s, v, n in rows.all()]

    async def quality(self, *, since: datetime) -> dict[str, dict[str, int]]:
        """Per source: events, imputed times, and out-of-order arrivals (an event received
        after one of its spell's events that happened later)."""
        query = text(
            """
            SELECT source, count(*) AS events,
                   count(*) FILTER (WHERE imputed) AS imputed_times,
                   count(*) FILTER (WHERE event_time < latest_before) AS out_of_order
            FROM (
                SELECT payload->>'source' AS source,
                       coalesce((payload->>'time_imputed')::boolean, false) AS imputed,
                       event_time,
                       max(event_time) OVER (
                           PARTITION BY encounter_id ORDER BY id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                       ) AS latest_before
                FROM encounter_events WHERE received_at >= :since
            ) arrivals
            GROUP BY source
            """
        )
        rows = (await self.session.execute(query, {"since": since})).mappings()
        return {
            row["source"] or "?": {k: int(v) for k, v in row.items() if k != "source"}
            for row in rows
        }

    async def location_codes(self) -> dict[str, dict[str, int]]:
        e = LocationException
        query = (
            select(
                e.source,
                func.count(func.distinct(e.location_text)),
                func.count(),
                func.sum(func.cast(e.resolved_at.is_(None), Integer)),
            )
            .where(e.trigger != "fold")
            .group_by(e.source)
        )
        return {
            source or "?": {"codes": int(codes), "messages": int(n), "held": int(held or 0)}
            for source, codes, n, held in (await self.session.execute(query)).all()
        }

    async def count(self, source: str, counter: str, by: int = 1) -> None:
        """A feed statistic that nothing else records (training traffic dropped, ...)."""
        if by:
            statement = insert(FeedCounter).values(source=source, counter=counter, count=by)
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["source", "counter"],
                    set_={"count": FeedCounter.count + by, "last_at": func.now()},
                )
            )
