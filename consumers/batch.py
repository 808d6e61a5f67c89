"""The asyncio side of a consumer: one polled batch applied in ONE transaction with its
partitions' offsets (effectively once; see consumers/runner.py for the poll thread and
docs/adr/0002-ingest.md). A record that cannot be applied is dead-lettered with its reason and
the batch goes on; a failure that is not the record's fault fails the whole batch (retried from
the stored offsets)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.changes import Delta
from app.ingest.decoders.errors import DecodeError, crash_site
from app.ingest.repository import IngestRepository
from app.ingest.routing import BatchHandler, HandlerFactory
from app.logging import get_logger
from consumers import metrics
from consumers.decoding import Decoded

log = get_logger(__name__)
Publish = Callable[[list[Delta]], Awaitable[None]]
TP = tuple[str, int]


@dataclass(frozen=True)
class DeadLetterOut:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    kind: str
    reason: str


@dataclass
class Outcome:
    commit: dict[TP, int] = field(default_factory=dict)
    rewind: dict[TP, int] = field(default_factory=dict)
    dead_letters: list[DeadLetterOut] = field(default_factory=list)


@dataclass
class _Tally:
    """An attempt's counts and warnings, made known once its transaction commits: an attempt
    rolled back (to be applied again) counts and says nothing."""

    counts: Counter[tuple[Any, tuple[str, ...]]] = field(default_factory=Counter)
    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def count(self, metric: Any, *labels: str) -> None:
        self.counts[(metric, labels)] += 1

    def settle(self) -> None:
        for (metric, labels), n in self.counts.items():
            metric.labels(*labels).inc(n)
        for event, fields in self.warnings:
            log.warning(event, **fields)


class _Refused(Exception):
    """The database (or the projection) refused a batch applied without SAVEPOINTs for a
    record's fault: the batch is applied again, in SAVEPOINTs, down to its bad records."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class BatchApplier:
    def __init__(
        self,
        *,
        group_id: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: dict[str, HandlerFactory],
        publish: Publish,
    ) -> None:
        self.group_id = group_id
        self.sessionmaker = sessionmaker
        self.handlers = handlers
        self.publish = publish
        # Where each partition was last rewound to: a second batch starting past the same
        # stored offset is a genuine gap in the log (e.g. transaction markers), not a race.
        self._rewound: dict[TP, int] = {}
        self._outcome = Outcome()
        self._tally = _Tally()  # the attempt in progress's

    async def read_offsets(self, partitions: Sequence[TP]) -> dict[TP, int]:
        async with self.sessionmaker() as session:
            stored = await IngestRepository(session).stored_offsets(
                self.group_id, sorted({topic for topic, _ in partitions})
            )
        return {tp: offset for tp, offset in stored.items() if tp in set(partitions)}

    async def apply_batch(
        self, records: list[Any], decoded: Sequence[Decoded | None] | None = None
    ) -> Outcome:
        """Apply one polled batch in ONE transaction with its partitions' offsets. The offset
        rows are locked first and records below the stored offsets are skipped: a consumer that
        lost its partitions while paused (a zombie) and wakes with an old batch changes nothing,
        and never moves an offset back. ``decoded``: records decoded already, by position (the
        worker process's; None: decoded here). Applied first without a SAVEPOINT (two round
        trips fewer a batch); refused for a record's fault, the batch is rolled back and
        applied again with each part in a SAVEPOINT, halved down to its bad records."""
        started = time.perf_counter()
        rewound = dict(self._rewound)
        try:
            deltas = await self._attempt(records, decoded, guarded=False)
        except _Refused as refused:
            log.warning("batch_rejected_bisecting", error=_reason(refused.error)[:300])
            self._rewound = rewound  # the rolled-back attempt's rewinds are not done
            deltas = await self._attempt(records, decoded, guarded=True)
        outcome = self._outcome
        elapsed = time.perf_counter() - started
        metrics.BATCH_SECONDS.observe(elapsed)
        log.info(
            "batch_applied",
            records=len(records),
            dead_letters=len(outcome.dead_letters),
            deltas=len(deltas),
            rewound=len(outcome.rewind),
            ms=round(elapsed * 1000, 1),
        )
        if deltas:
            await self.publish(deltas)
        return outcome

    async def _attempt(
        self, records: list[Any], decoded: Sequence[Decoded | None] | None, *, guarded: bool
    ) -> list[Delta]:
        """One attempt at the batch, in one transaction; its counts made known on commit."""
        outcome, tally = self._outcome, self._tally = Outcome(), _Tally()
        deltas: list[Delta] = []
        async with self.sessionmaker() as session, session.begin():
            ingest = IngestRepository(session)
            handlers: dict[str, BatchHandler] = {}
            partitions = sorted({(r.topic, r.partition) for r in records})
            stored = await ingest.lock_offsets(self.group_id, partitions)
            already = dict(zip(map(id, records), decoded, strict=True)) if decoded else {}
            for record in self._new_records(records, stored, outcome):
                handler = handlers.get(record.topic)
                if handler is None:
                    handler = handlers[record.topic] = self.handlers[record.topic](session)
                await self._decode(ingest, handler, record, already.get(id(record)))
                outcome.commit[(record.topic, record.partition)] = record.offset + 1
            for handler in handlers.values():
                part = handler.take_pending()
                await self._apply_part(session, ingest, handler, part, guarded=guarded)
                deltas += await handler.finish()
            await ingest.save_offsets(self.group_id, outcome.commit)
        tally.settle()
        return deltas

    def _new_records(
        self, records: list[Any], stored: dict[TP, int], outcome: Outcome
    ) -> list[Any]:
        """Drop records already applied; rewind a partition whose batch starts past the stored
        offset (Kafka ran ahead of the database)."""
        fresh: list[Any] = []
        seen: set[TP] = set()
        for record in records:
            tp = (record.topic, record.partition)
            self._tally.count(metrics.CONSUMED, record.topic)
            expected = stored.get(tp)
            if expected is not None and record.offset < expected:
                self._tally.count(metrics.SKIPPED, record.topic)
                continue
            first_of_partition = tp not in seen
            seen.add(tp)
            if (
                first_of_partition
                and expected is not None
                and record.offset > expected
                and self._rewound.get(tp) != expected
            ):
                outcome.rewind[tp] = self._rewound[tp] = expected
            if tp in outcome.rewind:
                continue
            fresh.append(record)
        return fresh

    async def _decode(
        self, ingest: IngestRepository, handler: BatchHandler, record: Any, decoded: Decoded | None
    ) -> None:
        try:
            if isinstance(decoded, DecodeError):
                raise decoded
            if decoded is None:
                handler.decode(record)  # raises DecodeError only (errors.decoding)
            else:
                handler.accept(record, decoded)
        except DecodeError as error:
            await self._dead_letter(ingest, record, error.kind, error.message)

    async def _apply_part(
        self,
        session: AsyncSession,
        ingest: IngestRepository,
        handler: BatchHandler,
        part: list[tuple[Any, list[Any]]],
        *,
        guarded: bool,
    ) -> None:
        """Apply these records set-based. ``guarded``: in a SAVEPOINT; if the database (or the
        projection) refuses them for a record's fault, halve them and apply each half the same
        way, down to the bad records, which are dead-lettered: a few bad records in a batch of
        thousands cost a few dozen attempts, not one attempt per record. The records keep their
        order. Unguarded, a refusal is ``_Refused`` (the caller rolls the batch back)."""
        if not part:
            return
        try:
            events = [event for _, events in part for event in events]
            if guarded:
                async with session.begin_nested():
                    await handler.apply_events(events)
            else:
                await handler.apply_events(events)
        except Exception as error:
            if not _record_level(error):
                raise
            if not guarded:
                raise _Refused(error) from error
            if len(part) == 1:
                await self._dead_letter(ingest, part[0][0], _kind(error), _reason(error))
                return
            middle = len(part) // 2
            await self._apply_part(session, ingest, handler, part[:middle], guarded=True)
            await self._apply_part(session, ingest, handler, part[middle:], guarded=True)
            return
        for record, _ in part:
            self._tally.count(metrics.APPLIED, record.topic)

    async def _dead_letter(
        self, ingest: IngestRepository, record: Any, kind: str, message: str
    ) -> None:
        self._tally.count(metrics.DEAD_LETTERED, record.topic, kind)
        self._outcome.dead_letters.append(
            DeadLetterOut(
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value or b"",
                kind,
                message,
            )
        )
        self._tally.warnings.append(
            (
                "dead_letter",
                {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "kind": kind,
                    "reason": message[:300],
                },
            )
        )
        await ingest.add_dead_letter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            raw=record.value or b"",
            error_kind=kind,
            error_message=message,
        )


# Failures that are never a record's fault: the batch is retried from the stored offsets.
INFRASTRUCTURE = (OSError, TimeoutError, MemoryError, SQLAlchemyError)


def _record_level(error: Exception) -> bool:
    """Is this failure the record's fault? A decode error; a database refusal caused by the
    data (SQLSTATE class 22: data exception, 23: integrity violation, 54: a program limit such
    as an index row too large); or any exception from a projection that is not infrastructure
    (a bug a record met: kept as ``projection_crash:<type>``). The database or the broker being
    unreachable, a deadlock or a lost connection is never the record's fault."""
    if isinstance(error, DBAPIError):
        original = error.orig
        sqlstate = getattr(original, "sqlstate", None) or getattr(
            getattr(original, "__cause__", None), "sqlstate", None
        )
        return isinstance(sqlstate, str) and sqlstate[:2] in ("22", "23", "54")
    return not isinstance(error, INFRASTRUCTURE)


def _kind(error: Exception) -> str:
    if isinstance(error, DecodeError):
        return error.kind
    if isinstance(error, DBAPIError):
        return "rejected_by_database"
    return f"projection_crash:{type(error).__name__}"


def _reason(error: Exception) -> str:
    if isinstance(error, DecodeError):
        return error.message
    if isinstance(error, DBAPIError):
        return str(error.orig)
    return f"the projection raised {crash_site(error)}"
