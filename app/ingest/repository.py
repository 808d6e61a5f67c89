"""All SQL for consumer offsets and dead letters."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.ingest.models import ConsumerOffset, DeadLetter


class IngestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def dead_letters_by_reason(self) -> dict[str, dict[str, int]]:
        """Per topic and reason (a message that did not decode names no sender)."""
        query = select(DeadLetter.topic, DeadLetter.error_kind, func.count()).group_by(
            DeadLetter.topic, DeadLetter.error_kind
        )
        found: dict[str, dict[str, int]] = {}
        for topic, kind, count in (await self.session.execute(query)).all():
            found.setdefault(topic, {})[kind] = int(count)
        return found

    async def lock_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """Stored next offsets for these partitions, row-locked for this transaction."""
        query = (
            select(ConsumerOffset)
            .where(ConsumerOffset.group_id == group_id)
            .where(tuple_(ConsumerOffset.topic, ConsumerOffset.partition).in_(list(partitions)))
            .with_for_update()
        )
        rows = (await self.session.execute(query)).scalars().all()
        return {(row.topic, row.partition): row.next_offset for row in rows}

    async def stored_offsets(
        self, group_id: str, topics: Sequence[str]
    ) -> dict[tuple[str, int], int]:
        query = select(ConsumerOffset).where(
            ConsumerOffset.group_id == group_id, ConsumerOffset.topic.in_(list(topics))
        )
        rows = (await self.session.execute(query)).scalars().all()
        return {(row.topic, row.partition): row.next_offset for row in rows}

    async def save_offsets(self, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
        """Every partition's next offset in one statement (a batch spans up to every partition
        of its topics: one upsert each was a round trip each)."""
        if not offsets:
            return
        rows = [
            {"group_id": group_id, "topic": topic, "partition": partition, "next_offset": offset}
            for (topic, partition), offset in sorted(offsets.items())
        ]
        statement = insert(ConsumerOffset).values(rows)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["group_id", "topic", "partition"],
                set_={"next_offset": statement.excluded.next_offset},
            )
        )

    async def reset(self) -> None:
        await self.session.execute(delete(ConsumerOffset))
        await self.session.execute(delete(DeadLetter))

    async def add_dead_letter(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        raw: bytes,
        error_kind: str,
        error_message: str,
    ) -> None:
        statement = insert(DeadLetter).values(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            raw=raw,
            error_kind=error_kind,
            error_message=error_message[:4000],
        )
        await self.session.execute(
            statement.on_conflict_do_nothing(index_elements=["topic", "partition", "offset"])
        )

    async def mark_resubmitted(self, ids: Sequence[int]) -> None:
        await self.session.execute(
            update(DeadLetter).where(DeadLetter.id.in_(list(ids))).values(resubmitted_at=func.now())
        )

    async def dead_letter(self, letter_id: int) -> DeadLetter | None:
        return await self.session.get(DeadLetter, letter_id)

    async def dead_letters(self, *, after_id: int, limit: int) -> Sequence[DeadLetter]:
        query = select(DeadLetter).where(DeadLetter.id > after_id).order_by(DeadLetter.id)
        return (await self.session.execute(query.limit(limit))).scalars().all()
