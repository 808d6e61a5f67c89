"""Topic → handler. A handler decodes one record and applies it inside the caller's
transaction (a SAVEPOINT per record), returning the deltas to publish after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.board.deltas import Delta
from app.config import KafkaSettings
from app.ingest import topics
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from consumers.decoders.hl7v2 import decode_hl7v2

Handler = Callable[[AsyncSession, Any], Awaitable[list[Delta]]]


def build_handlers(kafka: KafkaSettings, *, drop_test_traffic: bool = True) -> dict[str, Handler]:
    async def hl7v2(session: AsyncSession, record: Any) -> list[Delta]:
        projector = OccupancyProjector(OccupancyRepository(session))
        deltas: list[Delta] = []
        for event in decode_hl7v2(record.value or b"", drop_test_traffic=drop_test_traffic):
            deltas += await projector.apply(event)
        return deltas

    return {kafka.topic(topics.ADT_HL7V2): hl7v2}
