"""ADT records decoded in a worker process while the batch before them is applied.

Under backlog the consumer is bound by one Python thread (the GIL): decoding an HL7 v2 message
is ~50 µs of it, a third of what a record costs, while the machine's other core waits for
PostgreSQL's share. The poll thread hands a backlog's ADT records (a batch of at least
``KAFKA_DECODE_OFFLOAD_RECORDS``) to one worker process, polls and decodes the next batch there
while the event loop applies the current one, and the loop receives canonical events: the
worker sends each record's events as JSON text (pydantic validates it back in ~9 µs; unpickling
the models took ~28) or its decode error's kind and message. The worker runs the very decoders
the event loop runs (app/ingest/decoders/adt.py); tests/consumers/test_decoding.py proves its
events equal theirs, record for record, errors included.

Under light load (a few records a poll) nothing leaves the event loop: a round trip to another
process would only add to a record's latency. While the worker starts (a second or two) and
after it dies, batches are decoded in the event loop as before; a dead worker is replaced.
See docs/adr/0002-ingest.md.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from app.config import KafkaSettings
from app.ingest.decoders.adt import ADT_TOPICS, decode_adt
from app.ingest.decoders.errors import DecodeError
from app.logging import get_logger
from app.occupancy.events import AdtEvent
from consumers import metrics

log = get_logger(__name__)
# A record decoded: its events, or why it cannot be applied (it is dead-lettered).
Decoded = list[AdtEvent] | DecodeError
# What the worker returns for a record: its events as JSON text, or (error kind, message).
Shipped = str | tuple[str, str]
RETRY_SECONDS = 30.0
PARENT_CHECK_SECONDS = 0.5
CHUNK = 500  # records a task: big enough that a task's overhead vanishes, small to overlap
_EVENTS: TypeAdapter[list[AdtEvent]] = TypeAdapter(list[AdtEvent])


def decode_chunk(kind: str, raws: Sequence[bytes]) -> list[Shipped]:
    """In the worker: each record's events as JSON text, or its error's kind and message."""
    shipped: list[Shipped] = []
    for raw in raws:
        try:
            shipped.append(_EVENTS.dump_json(decode_adt(kind, raw)).decode())
        except DecodeError as error:
            shipped.append((error.kind, error.message))
    return shipped


def received(item: Shipped) -> Decoded:
    """What the worker sent for a record, as the event loop would have decoded it."""
    if isinstance(item, str):
        return _EVENTS.validate_json(item)
    error = DecodeError(item[1])
    error.kind = item[0]
    return error


def _ready() -> bool:
    return True


def _exit_with(parent: int) -> None:
    """In the worker: exit when the consumer process that started it is gone. A worker whose
    consumer was killed (kill -9, the OOM killer) otherwise waits on its task queue forever —
    every killed consumer left one behind (found by the crash test's ten kills)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-consumer", daemon=True).start()


@dataclass
class Decoding:
    """A batch's records on their way through the worker: (record indexes, task) per chunk."""

    size: int
    tasks: list[tuple[list[int], Future[list[Shipped]]]]


def _grown(decoding: Decoding | None, size: int) -> Decoding | None:
    """A decoding followed by records the event loop decodes."""
    return None if decoding is None else Decoding(size, decoding.tasks)


class DecodePool:
    """The poll thread's worker process (used from that thread only)."""

    def __init__(
        self, kinds: Mapping[str, str], min_records: int, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self.kinds = dict(kinds)  # topic -> decoder kind
        self.min_records = min_records
        self.retry_seconds = retry_seconds
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[bool] | None = None
        self._retry_at = 0.0  # after a failure, no new worker before this (monotonic)

    @classmethod
    def for_topics(cls, kafka: KafkaSettings, consumed: Sequence[str]) -> DecodePool:
        kinds = {kafka.topic(name): kind for name, kind in ADT_TOPICS.items()}
        return cls(
            {topic: kind for topic, kind in kinds.items() if topic in consumed},
            kafka.decode_offload_records,
        )

    def start(
        self,
        records: Sequence[Any],
        *,
        after: Decoding | None = None,
        offset: int = 0,
        backlog: bool = False,
    ) -> Decoding | None:
        """Send a backlog's ADT records to the worker; None: the event loop decodes them.
        ``offset``: these records follow that many of the same batch, ``after`` their decoding
        (None: the loop decodes them). ``backlog``: polled while a backlog's batch is applied
        (sent whatever their number; otherwise a batch of ``min_records`` ADT records is)."""
        adt = [i for i, record in enumerate(records) if record.topic in self.kinds]
        wanted = backlog or len(adt) >= self.min_records
        if not self.min_records or not wanted or not self._ready():
            return _grown(after, offset + len(records))
        assert self._pool is not None
        tasks = list(after.tasks) if after is not None else []
        try:
            for kind in sorted({self.kinds[records[i].topic] for i in adt}):
                indexes = [i for i in adt if self.kinds[records[i].topic] == kind]
                for at in range(0, len(indexes), CHUNK):
                    chunk = indexes[at : at + CHUNK]
                    raws = [records[i].value or b"" for i in chunk]
                    task = self._pool.submit(decode_chunk, kind, raws)
                    tasks.append(([offset + i for i in chunk], task))
        except (BrokenProcessPool, RuntimeError) as error:  # the worker died since the last
            self._failed(error)
            return None
        return Decoding(offset + len(records), tasks)

    @property
    def running(self) -> bool:
        """Is a worker up and answering?"""
        started = self._started
        return started is not None and started.done() and started.exception() is None

    def finish(self, decoding: Decoding | None) -> list[Decoded | None] | None:
        """Each record's decoded events (None: not sent, the event loop decodes it); None for
        the whole batch if the worker failed (it is replaced; the loop decodes the batch)."""
        if decoding is None:
            return None
        decoded: list[Decoded | None] = [None] * decoding.size
        try:
            for indexes, task in decoding.tasks:
                for index, item in zip(indexes, task.result(), strict=True):
                    decoded[index] = received(item)
        except (BrokenProcessPool, OSError, RuntimeError) as error:
            self._failed(error)
            return None
        metrics.DECODED_IN_WORKER.inc(sum(len(indexes) for indexes, _ in decoding.tasks))
        return decoded

    def _ready(self) -> bool:
        """Is the worker up? The first backlog starts it (a second or two: it imports the
        decoders); batches go to the event loop until it answers."""
        if self._pool is None:
            if time.monotonic() < self._retry_at:
                return False
            # spawn, never fork: this process has threads (Kafka's, the event loop's)
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with,
                initargs=(os.getpid(),),
            )
            self._started = self._pool.submit(_ready)
            return False
        assert self._started is not None
        if not self._started.done():
            return False
        error = self._started.exception()
        if error is not None:
            self._failed(error)
            return False
        return True

    def _failed(self, error: BaseException) -> None:
        log.warning("decode_worker_failed", error=repr(error)[:300])
        metrics.DECODE_WORKER_FAILURES.inc()
        self.close()

    def close(self, *, failed: bool = True) -> None:
        """Stop the worker; after a failure, the next one starts ``retry_seconds`` later at the
        earliest (a worker that cannot start is not restarted every batch)."""
        pool, self._pool, self._started = self._pool, None, None
        if failed:
            self._retry_at = time.monotonic() + self.retry_seconds
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
