"""Topic → handler. A handler is made per batch: ``apply`` decodes one record and applies it
inside the caller's transaction (a SAVEPOINT per record); ``finish`` returns the batch's deltas,
to be published after commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.board.deltas import Delta
from app.config import KafkaSettings
from app.ingest import topics
from app.occupancy.events import AdtEvent
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from consumers.decoders.hl7v2 import decode_hl7v2


class BatchHandler(Protocol):
    """decode(record) for each record (raises DecodeError/ValidationError for a bad one);
    flush() applies all decoded records set-based; if flush fails, the runner rolls it back and
    re-applies record by record with take_pending()/apply_events() to isolate the bad one."""

    def decode(self, record: Any) -> None: ...

    async def flush(self) -> None: ...

    def take_pending(self) -> list[tuple[Any, list[Any]]]: ...

    async def apply_events(self, events: list[Any]) -> None: ...

    async def finish(self) -> list[Delta]: ...


HandlerFactory = Callable[[AsyncSession], BatchHandler]


class Hl7v2Handler:
    """Decodes records as they come (a bad one raises at once and is dead-lettered), then
    applies the whole batch set-based in ``flush``."""

    def __init__(self, session: AsyncSession, *, drop_test_traffic: bool) -> None:
        self.projector = OccupancyProjector(OccupancyRepository(session))
        self.drop_test_traffic = drop_test_traffic
        self.pending: list[tuple[Any, list[AdtEvent]]] = []

    def decode(self, record: Any) -> None:
        events = decode_hl7v2(record.value or b"", drop_test_traffic=self.drop_test_traffic)
        self.pending.append((record, events))

    async def flush(self) -> None:
        await self.projector.apply_all([event for _, events in self.pending for event in events])

    def take_pending(self) -> list[tuple[Any, list[AdtEvent]]]:
        pending, self.pending = self.pending, []
        return pending

    async def apply_events(self, events: list[AdtEvent]) -> None:
        await self.projector.apply_all(events)

    async def finish(self) -> list[Delta]:
        return await self.projector.deltas()


def build_handlers(
    kafka: KafkaSettings, *, drop_test_traffic: bool = True
) -> dict[str, HandlerFactory]:
    def hl7v2(session: AsyncSession) -> BatchHandler:
        return Hl7v2Handler(session, drop_test_traffic=drop_test_traffic)

    return {kafka.topic(topics.ADT_HL7V2): hl7v2}
