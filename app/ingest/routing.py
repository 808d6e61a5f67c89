"""Topic → handler. A handler is made per batch: ``decode`` each record (a bad one raises and is
dead-lettered at once), ``apply_events`` applies the batch's events (``take_pending``) inside the
caller's transaction, and ``finish`` returns the deltas to publish after commit. If the database
refuses a batch, the runner rolls it back and applies it again in SAVEPOINTs, halved down to the
bad records (consumers/batch.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app import topics
from app.ambulance.events import AmbulanceEvent
from app.ambulance.repository import AmbulanceRepository
from app.carehomes.events import CareHomeReport
from app.carehomes.repository import CareHomeRepository
from app.changes import ALL_SITES, CAREHOMES, Delta, touch
from app.config import KafkaSettings
from app.discharge.events import DischargeStatusEvent
from app.discharge.repository import DischargeRepository
from app.ingest.decoders.adt import ADT_DECODERS, ADT_TOPICS
from app.ingest.decoders.errors import InvalidValue, decoding
from app.ingest.decoders.json_events import decode_json
from app.occupancy.events import AdtEvent
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository
from app.topology.repository import TopologyRepository


class BatchHandler(Protocol):
    def decode(self, record: Any) -> None: ...

    def accept(self, record: Any, events: list[Any]) -> None:
        """A record decoded already (in the consumer's worker process)."""

    def take_pending(self) -> list[tuple[Any, list[Any]]]: ...

    async def apply_events(self, events: list[Any]) -> None: ...

    async def finish(self) -> list[Delta]: ...


HandlerFactory = Callable[[AsyncSession], BatchHandler]


class _Pending:
    def __init__(self) -> None:
        self.pending: list[tuple[Any, list[Any]]] = []

    def accept(self, record: Any, events: list[Any]) -> None:
        self.pending.append((record, events))

    def take_pending(self) -> list[tuple[Any, list[Any]]]:
        pending, self.pending = self.pending, []
        return pending

    async def apply_events(self, events: list[Any]) -> None:
        raise NotImplementedError


class AdtHandler(_Pending):
    """HL7 v2 or FHIR: both become canonical ADT events for the set-based projector."""

    def __init__(self, session: AsyncSession, decode: Callable[[bytes], list[AdtEvent]]) -> None:
        super().__init__()
        self.projector = OccupancyProjector(OccupancyRepository(session))
        self._decode = decode

    def decode(self, record: Any) -> None:
        self.accept(record, decoding(self._decode, record.value or b""))

    async def apply_events(self, events: list[Any]) -> None:
        await self.projector.apply_all(events)

    async def finish(self) -> list[Delta]:
        return await self.projector.deltas()


class JsonHandler(_Pending):
    """Ambulance, care-home and discharge events: validated, deduplicated, upserted."""

    def __init__(
        self,
        session: AsyncSession,
        model: type[BaseModel],
        source: str,
        record_many: Callable[[AsyncSession, list[Any]], Awaitable[set[str]]],
    ) -> None:
        super().__init__()
        self.session, self.model, self.source = session, model, source
        self.record_many = record_many
        self.occupancy = OccupancyRepository(session)
        self.touched: set[str] = set()

    def decode(self, record: Any) -> None:
        event = decoding(lambda raw: decode_json(raw, self.model), record.value or b"")
        self.pending.append((record, [event]))

    async def apply_events(self, events: Sequence[Any]) -> None:
        """Set-based: one statement marks the batch's ids processed, one upserts the new ones."""
        ids = [getattr(event, "event_id", None) or event.report_id for event in events]
        new = await self.occupancy.mark_processed_many(self.source, ids)
        fresh = []
        for event, message_id in zip(events, ids, strict=True):
            if message_id in new:
                new.discard(message_id)  # a duplicate within the batch counts once
                fresh.append(event)
        if fresh:
            self.touched |= await self.record_many(self.session, fresh)

    async def finish(self) -> list[Delta]:
        touched, self.touched = self.touched, set()
        return [touch(site) for site in sorted(touched)]


async def unknown_reference(session: AsyncSession, kind: str, events: Sequence[Any]) -> str | None:
    """What an event names that the economy does not have (the consumer dead-letters it; the
    ingest API refuses it with 422 before it reaches Kafka)."""
    if kind == "ambulance":
        named = {event.destination_site for event in events if event.destination_site}
        unknown = named - await TopologyRepository(session).site_codes(sorted(named))
        if unknown:
            return f"destination site {sorted(unknown)[0]!r} is not in the economy"
    if kind == "carehome":
        repository = CareHomeRepository(session)
        for report in events:
            if not await repository.home_exists(report.home_code):
                return f"care home {report.home_code!r} is not in the economy"
    return None


async def _ambulance(session: AsyncSession, events: list[AmbulanceEvent]) -> set[str]:
    if problem := await unknown_reference(session, "ambulance", events):
        raise InvalidValue(problem)
    sites = await AmbulanceRepository(session).record_steps(events)
    return sites | {event.destination_site or ALL_SITES for event in events}


async def _carehome(session: AsyncSession, reports: list[CareHomeReport]) -> set[str]:
    if problem := await unknown_reference(session, "carehome", reports):
        raise InvalidValue(problem)
    repository = CareHomeRepository(session)
    for report in reports:
        await repository.record(report)
    return {CAREHOMES}


async def _discharge(session: AsyncSession, events: list[DischargeStatusEvent]) -> set[str]:
    await DischargeRepository(session).record_many(events)
    return {ALL_SITES}


def decode_for_kind(kind: str, raw: bytes) -> list[Any]:
    """Decode a payload of an ingest kind exactly as its consumer will (raises DecodeError,
    and nothing else)."""
    return decoding(lambda payload: _decode_kind(kind, payload), raw)


def _decode_kind(kind: str, raw: bytes) -> list[Any]:
    if kind in ADT_DECODERS:
        return ADT_DECODERS[kind](raw)
    models: dict[str, type[BaseModel]] = {
        "ambulance": AmbulanceEvent,
        "carehome": CareHomeReport,
        "discharge": DischargeStatusEvent,
    }
    return [decode_json(raw, models[kind])]


def build_handlers(kafka: KafkaSettings) -> dict[str, HandlerFactory]:
    def adt(decode: Callable[[bytes], list[AdtEvent]]) -> HandlerFactory:
        return lambda session: AdtHandler(session, decode)

    return {
        **{kafka.topic(name): adt(ADT_DECODERS[kind]) for name, kind in ADT_TOPICS.items()},
        kafka.topic(topics.AMBULANCE): lambda session: JsonHandler(
            session, AmbulanceEvent, topics.AMBULANCE, _ambulance
        ),
        kafka.topic(topics.CAREHOME_BEDS): lambda session: JsonHandler(
            session, CareHomeReport, topics.CAREHOME_BEDS, _carehome
        ),
        kafka.topic(topics.DISCHARGE_STATUS): lambda session: JsonHandler(
            session, DischargeStatusEvent, topics.DISCHARGE_STATUS, _discharge
        ),
    }
