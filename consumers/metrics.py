"""Prometheus metrics of the ingest path."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("flowcc_ingest_consumed_total", "Kafka records consumed", ["topic"])
APPLIED = Counter("flowcc_ingest_applied_total", "Records applied to state", ["topic"])
SKIPPED = Counter(
    "flowcc_ingest_skipped_total",
    "Records already applied (offset below the stored one)",
    ["topic"],
)
DEAD_LETTERED = Counter(
    "flowcc_ingest_dead_lettered_total", "Records sent to dead letters", ["topic", "kind"]
)
BATCH_SECONDS = Histogram("flowcc_ingest_batch_seconds", "Time to apply and commit one batch")
LAG = Gauge("flowcc_ingest_lag", "Records behind the partition end", ["topic", "partition"])
STALLS = Counter("flowcc_ingest_consumer_stalls_total", "Consumers rebuilt after stalling")
DECODED_IN_WORKER = Counter(
    "flowcc_ingest_decoded_in_worker_total",
    "ADT records of a backlog decoded in the consumer's worker process (consumers/decoding.py)",
)
DECODE_WORKER_FAILURES = Counter(
    "flowcc_ingest_decode_worker_failures_total",
    "Times the decode worker process failed (replaced; its batch decoded in the event loop)",
)
