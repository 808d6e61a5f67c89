"""The consumer runner: effectively-once application of Kafka records to PostgreSQL.

This module is the poll thread and its hand-over to the event loop; consumers/batch.py applies
the batches. A worker thread owns the (not thread-safe) KafkaConsumer: it polls, hands each
batch to the asyncio loop through a bounded queue, and waits for the outcome. The loop applies
the whole batch in ONE transaction together with the ``(group, topic, partition) → next
offset`` rows, commits, publishes the deltas, and only then does the thread commit the offsets
to Kafka.

On (re)assignment the thread seeks every partition to the offset stored in PostgreSQL, so a
crash between the database commit and the Kafka commit re-reads nothing twice; records below the
stored offset (a rebalance race) are skipped; a batch that starts past the stored offset means
Kafka is ahead of the database and the partition is rewound. See docs/adr/0002-ingest.md.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import KafkaSettings
from app.ingest.routing import HandlerFactory
from app.kafka import connect
from app.logging import get_logger
from app.topics import dead_letter_topic
from consumers import metrics
from consumers.batch import TP, BatchApplier, DeadLetterOut, Outcome, Publish
from consumers.decoding import Decoded, DecodePool, Decoding

log = get_logger(__name__)
__all__ = ["ConsumerRunner", "ConsumerStuck", "Publish"]
STALL_SECONDS = 2.0
NUDGE_SECONDS = 0.5
JOIN_STALL_SECONDS = 10.0
# Event-loop watchdog: a poll thread that has not polled for this long, or a runner without
# partitions for this long, is replaced by a fresh runner.
POLL_STUCK_SECONDS = 60.0
UNASSIGNED_SECONDS = 25.0
# While a batch is applied under backlog, the next is polled up to a whole batch; a poll waits
# this long at most once some records are in hand (the batch may end meanwhile).
AHEAD_POLL_MS = 20


class ConsumerStuck(RuntimeError):
    """The Kafka client stopped making progress; the runner is replaced."""


@dataclass
class Batch:
    records: list[Any]
    decoded: list[Decoded | None] | None = None  # by position; None: the loop decodes
    outcome: Future[Outcome] = field(default_factory=Future)
    failure: BaseException | None = None  # the poll thread died: the runner must stop too


@dataclass
class Polled:
    """Records polled while the batch before them is applied, on their way through the
    decode worker."""

    records: list[Any] = field(default_factory=list)
    decoding: Decoding | None = None
    ahead: bool = False  # polled while the batch before them was applied


class ConsumerRunner:
    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: dict[str, HandlerFactory],
        publish: Publish,
        max_batch: int | None = None,
        poll_timeout_ms: int = 100,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.kafka = kafka
        self.handlers = handlers
        self.applier = BatchApplier(
            group_id=kafka.group_id, sessionmaker=sessionmaker, handlers=handlers, publish=publish
        )
        self.max_batch = max_batch or kafka.max_poll_records
        self.decoder = DecodePool.for_topics(kafka, list(handlers))
        self.poll_timeout_ms = poll_timeout_ms
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=1)
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.assigned = threading.Event()
        self._dlq: KafkaProducer
        self._assignment_lock = threading.Lock()
        self._lag_recorded_at = 0.0
        self._pending_seek: set[TopicPartition] = set()
        self.last_poll_at = self._last_records = self._last_check = self._last_nudge = (
            time.monotonic()
        )
        # Records seen waiting (partition → end offset) and since when, no record arriving
        # meanwhile: the client is stuck only if they still wait STALL_SECONDS later.
        self._suspect: tuple[float, dict[Any, int]] | None = None
        # When the group last took this client's partitions away (None: it holds its assignment).
        self._revoked_at: float | None = None
        self._unassigned_since: float | None = None
        # The first offset per partition of the batch that failed (what /readyz names).
        self.failing_at: dict[TP, int] = {}
        self._on_progress = on_progress

    @property
    def consuming(self) -> bool:
        return self.assigned.is_set()

    async def run(self) -> None:
        """Consume until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._poll_forever, name="kafka-poll", daemon=True)
        self._thread.start()
        try:
            while True:
                try:
                    batch = await asyncio.wait_for(self.queue.get(), timeout=1.0)
                except TimeoutError:
                    self._check_alive()
                    continue
                if batch.failure is not None:
                    raise RuntimeError("the Kafka poll thread failed") from batch.failure
                try:
                    outcome = await self.applier.apply_batch(batch.records, batch.decoded)
                    batch.outcome.set_result(outcome)
                except BaseException as error:
                    self.failing_at = _first_offsets(batch.records)
                    batch.outcome.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                else:
                    self.failing_at = {}
                    if self._on_progress is not None:
                        self._on_progress()
        finally:
            self._stop.set()
            await asyncio.to_thread(self._thread.join, 15)

    def _check_alive(self) -> None:
        """The poll thread's own watchdog cannot help if the thread itself is stuck (a
        kafka-python blocking call waits without a deadline); this one runs on the event loop.
        Raising ends run(); the caller starts a fresh runner, which resumes from the offsets
        stored with the state."""
        now = time.monotonic()
        if now - self.last_poll_at > POLL_STUCK_SECONDS:
            metrics.STALLS.inc()
            raise ConsumerStuck(
                f"the poll thread has not polled for {now - self.last_poll_at:.0f} s"
            )
        if self.assigned.is_set():
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = now
        elif now - self._unassigned_since > UNASSIGNED_SECONDS:
            metrics.STALLS.inc()
            raise ConsumerStuck(f"no partitions assigned for {UNASSIGNED_SECONDS:.0f} s")

    # ------------------------------------------------------------------ the poll thread

    def _consumer(self) -> KafkaConsumer:
        return connect(
            KafkaConsumer,
            self.kafka,
            group_id=self.kafka.group_id,
            group_instance_id=self.kafka.group_instance_id,
            # Unique per runner: kafka-python 3 names (and shares) IO threads by client_id.
            client_id=f"{self.kafka.client_id}-consumer-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_batch,
            # The broker answers a fetch as soon as one byte is there (fetch_min_bytes=1), so
            # this only bounds idle waits. 50 ms here made kafka-python 3.0.12 stall a partition
            # for minutes in ~1 of 6 fresh consumers (see docs/adr/0002-ingest.md).
            fetch_max_wait_ms=500,
            # A fetch whose response is lost is failed and re-sent after this long, instead of
            # stalling its partitions for kafka-python's 30 s default.
            request_timeout_ms=2500,
            session_timeout_ms=10000,
            heartbeat_interval_ms=3000,
            # New topics and partitions are noticed within seconds, not kafka-python's 5 min.
            metadata_max_age_ms=5000,
        )

    def _poll_forever(self) -> None:
        """Poll; hand a batch to the event loop; poll (and decode) the next while it is
        applied; settle the first (rewinds, dead letters, the informational Kafka commit)
        before the next is handed over."""
        consumer = self._subscribed_consumer()
        self._dlq = connect(
            KafkaProducer,
            self.kafka,
            acks="all",
            max_request_size=8 * 1024 * 1024,
            client_id=f"{self.kafka.client_id}-dlq",
        )
        applying: Batch | None = None
        polled = Polled()
        try:
            while not self._stop.is_set():
                if applying is not None and (
                    len(polled.records) >= self.max_batch
                    or applying.outcome.done()
                    or not self._backlog(applying)
                ):
                    outcome = self._outcome(applying)
                    if outcome is None:
                        return
                    applying = None
                    self._settle(consumer, outcome)
                    polled = self._without(polled, outcome.rewind)
                    # Waiting for records starts now: a batch that took longer than
                    # STALL_SECONDS to apply (thousands under backlog) is no stalled client.
                    self._last_records = time.monotonic()
                if applying is None and polled.records:
                    applying = self._batch(consumer, polled)
                    put = asyncio.run_coroutine_threadsafe(
                        self.queue.put(applying), self._loop_of()
                    )
                    put.result()
                    polled = Polled()
                    continue
                records = self._poll(
                    consumer,
                    idle=applying is None,
                    timeout_ms=AHEAD_POLL_MS if polled.records else None,
                    most=self.max_batch - len(polled.records),
                )
                if records is None:  # the client was stuck and is replaced
                    consumer.close(autocommit=False)
                    consumer = self._subscribed_consumer()
                    self._last_records, self._suspect = time.monotonic(), None
                elif records:
                    polled = self._ahead(polled, records, ahead=applying is not None)
        except Exception as error:
            log.exception("consumer_poll_failed")
            if self._loop is not None and not self._stop.is_set():
                asyncio.run_coroutine_threadsafe(
                    self.queue.put(Batch([], failure=error)), self._loop
                )
        finally:
            consumer.close(autocommit=False)
            self._dlq.close(timeout=5)
            self.decoder.close(failed=False)

    def _ahead(self, polled: Polled, records: list[Any], *, ahead: bool) -> Polled:
        """These records after those polled before them for the next batch. Under backlog the
        next batch fills up to a whole batch while this one is applied, each poll's records on
        their way through the decode worker as they arrive (records topped up at hand-over are
        decoded in the event loop: 11-14 % of a backlog's before)."""
        decoding = self.decoder.start(
            records, after=polled.decoding, offset=len(polled.records), backlog=ahead
        )
        return Polled(polled.records + records, decoding, ahead or polled.ahead)

    def _batch(self, consumer: KafkaConsumer, polled: Polled) -> Batch:
        """The records polled while the last batch was applied, with what has arrived since
        (taken without waiting): a record that came during the batch waits for one batch, not
        two."""
        decoded = self.decoder.finish(polled.decoding)
        room = self.max_batch - len(polled.records) if polled.ahead else 0
        more = self._poll(consumer, idle=False, timeout_ms=0, most=room) if room > 0 else []
        if decoded is not None and more:
            decoded += [None] * len(more)  # decoded in the event loop
        return Batch(polled.records + (more or []), decoded)

    def _backlog(self, batch: Batch) -> bool:
        """Is the consumer behind (a batch as big as the decode worker takes)? Then the next
        batch is polled, and decoded, while this one is applied. Under light load the thread
        waits for the outcome instead: a poll running beside a small batch only slows it (the
        GIL; measured at 100 boards: p50 64-89 ms against 47-52)."""
        return 0 < self.decoder.min_records <= len(batch.records)

    def _poll(
        self,
        consumer: KafkaConsumer,
        *,
        idle: bool,
        timeout_ms: int | None = None,
        most: int | None = None,
    ) -> list[Any] | None:
        """One poll's records (none from partitions just sought to their stored offsets); None
        when the client is stuck (checked only when no batch is being applied)."""
        self.last_poll_at = time.monotonic()
        polled = consumer.poll(
            timeout_ms=self.poll_timeout_ms if timeout_ms is None else timeout_ms,
            max_records=most or self.max_batch,
        )
        seeked = self._seek_newly_assigned(consumer)
        records = [r for tp in sorted(polled) if tp not in seeked for r in polled[tp]]
        now = time.monotonic()
        if now - self._last_nudge > NUDGE_SECONDS:
            self._last_nudge = now
            self._nudge(consumer)
        if records:
            self._last_records, self._suspect = now, None
        elif idle and now - self._last_check > 1.0:
            self._last_check = now
            waited = now - self._last_records
            if waited > STALL_SECONDS and self._stalled(consumer, waited=waited, now=now):
                return None
        return records

    def _outcome(self, batch: Batch) -> Outcome | None:
        """The applied batch's outcome (raises its failure); None when stopping."""
        while not self._stop.is_set():
            try:
                return batch.outcome.result(timeout=0.5)
            except TimeoutError:
                continue
        return None

    def _settle(self, consumer: KafkaConsumer, outcome: Outcome) -> None:
        for (topic, partition), offset in outcome.rewind.items():
            consumer.seek(TopicPartition(topic, partition), offset)
        self._publish_dead_letters(outcome.dead_letters)
        if outcome.commit:
            # Informational (lag tools): the offsets that count were committed with the state
            # in PostgreSQL, so this never holds up the next poll.
            consumer.commit_async(
                {
                    TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                    for (t, p), o in outcome.commit.items()
                }
            )
        self._record_lag(consumer)

    def _without(self, polled: Polled, rewound: dict[TP, int]) -> Polled:
        """Records polled ahead, less those of partitions just rewound (sought back: read
        again from there)."""
        if not rewound or not polled.records:
            return polled
        kept = [r for r in polled.records if (r.topic, r.partition) not in rewound]
        return Polled(kept, self.decoder.start(kept) if kept else None, polled.ahead)

    def _loop_of(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def _publish_dead_letters(self, letters: list[DeadLetterOut]) -> None:
        """After the database commit: copy each dead letter to ``<topic>.dlq`` with the reason
        in its headers (the table stays the record of truth)."""
        for letter in letters:
            self._dlq.send(
                dead_letter_topic(letter.topic),
                key=letter.key,
                value=letter.raw,
                headers=[
                    ("flowcc.error_kind", letter.kind.encode()),
                    ("flowcc.reason", letter.reason[:1000].encode()),
                    (
                        "flowcc.source",
                        f"{letter.topic}/{letter.partition}/{letter.offset}".encode(),
                    ),
                ],
            )
        if letters:
            self._dlq.flush(timeout=10)

    def _subscribed_consumer(self) -> KafkaConsumer:
        consumer = self._consumer()
        self._wait_for_topics(consumer)
        consumer.subscribe(list(self.handlers), listener=_SeekToStored(self, consumer))
        return consumer

    def _nudge(self, consumer: KafkaConsumer) -> None:
        """kafka-python 3.0.12 marks partitions "awaiting offset validation" when a metadata
        refresh brings a newer leader epoch, and poll() never waits for that validation: the
        partitions stop fetching until something calls position(), which does wait for it
        (dpkp/kafka-python#3106). A local lookup when nothing is pending."""
        for tp in consumer.assignment():
            consumer.position(tp, timeout_ms=1000)

    def _stalled(self, consumer: KafkaConsumer, *, waited: float, now: float) -> bool:
        """Records have been waiting on an assigned partition for STALL_SECONDS and none has
        arrived, or the group join has not produced an assignment: the client is stuck
        (kafka-python 3.0.12 can stall around a rebalance). Offsets live in PostgreSQL, so a
        fresh consumer continues exactly where the state is. Records seen waiting for the first
        time are only suspected: the first of a burst after a quiet spell is seen by the
        broker's end offset before its fetch arrives (that restarted the consumer at the start
        of every burst after 2 s of quiet, issue #17)."""
        assignment = consumer.assignment()
        # A rebalance that never hands the partitions back: kafka-python 3.0.12 can finish a
        # join after the poll that began it timed out, and then never applies it (no
        # assignment, no heartbeats; the group drops the member) while assignment() still lists
        # the partitions it held — so the time since the revocation is what counts.
        if not assignment or self._revoked_at is not None:
            unassigned = waited if self._revoked_at is None else now - self._revoked_at
            if unassigned > JOIN_STALL_SECONDS:
                log.warning("consumer_join_stalled_restarting", waited_s=round(unassigned, 1))
                metrics.STALLS.inc()
                return True
            return False
        ends = consumer.end_offsets(list(assignment))
        waiting = {tp: end for tp, end in ends.items() if end > consumer.position(tp)}
        if self._suspect is None or not waiting:
            self._suspect = (now, waiting) if waiting else None
            return False
        since, seen = self._suspect
        behind = [tp for tp, end in seen.items() if tp in ends and consumer.position(tp) < end]
        if not behind:  # those arrived; these are newer
            self._suspect = (now, waiting)
            return False
        if now - since < STALL_SECONDS:
            return False
        log.warning("consumer_stalled_restarting", partitions_behind=len(behind))
        metrics.STALLS.inc()
        self._suspect = None
        return True

    def _wait_for_topics(self, consumer: KafkaConsumer) -> None:
        """Subscribing before a new topic's metadata reached this client assigns nothing until
        the next metadata refresh; wait (briefly) until every topic has partitions."""
        deadline = time.monotonic() + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            missing = [t for t in self.handlers if not consumer.partitions_for_topic(t)]
            if not missing:
                return
            self._stop.wait(0.05)
        log.warning("topics_without_metadata", topics=list(self.handlers))

    def _seek_newly_assigned(self, consumer: KafkaConsumer) -> set[TopicPartition]:
        """Continue newly assigned partitions from the offsets stored with the state. Done here,
        on the poll thread: the rebalance callback runs on kafka-python's IO thread, which must
        never block on the database."""
        with self._assignment_lock:
            pending, self._pending_seek = self._pending_seek, set()
        if not pending:
            return set()
        stored = self.stored_offsets([(tp.topic, tp.partition) for tp in pending])
        assigned = consumer.assignment()
        seeked = set()
        for tp in pending:
            offset = stored.get((tp.topic, tp.partition))
            if tp in assigned and offset is not None:
                consumer.seek(tp, offset)
                seeked.add(tp)
        return seeked  # records already fetched for these are dropped and fetched again

    def stored_offsets(self, partitions: Sequence[TP]) -> dict[TP, int]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(
            self.applier.read_offsets(partitions), self._loop
        ).result()

    def _record_lag(self, consumer: KafkaConsumer) -> None:
        """At most once a second: end_offsets is a broker round trip, not for every batch."""
        now = time.monotonic()
        if now - self._lag_recorded_at < 1.0:
            return
        self._lag_recorded_at = now
        assignment = consumer.assignment()
        ends = consumer.end_offsets(list(assignment)) if assignment else {}
        for tp, end in ends.items():
            position = consumer.position(tp)
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - position))

    def stop(self) -> None:
        self._stop.set()


def _first_offsets(records: list[Any]) -> dict[TP, int]:
    first: dict[TP, int] = {}
    for record in records:
        first.setdefault((record.topic, record.partition), record.offset)
    return first


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, mark the partitions to continue from the offsets stored with the state
    (the poll thread seeks them; partitions with nothing stored start from Kafka's committed
    offset, else the earliest)."""

    def __init__(self, runner: ConsumerRunner, consumer: KafkaConsumer) -> None:
        self.runner = runner
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.runner._revoked_at = time.monotonic()
        self.runner.assigned.clear()

    def on_partitions_assigned(self, assigned: Any) -> None:
        with self.runner._assignment_lock:
            self.runner._pending_seek |= set(assigned)
        log.info(
            "partitions_assigned", partitions=sorted((tp.topic, tp.partition) for tp in assigned)
        )
        self.runner._revoked_at = None
        self.runner.assigned.set()
