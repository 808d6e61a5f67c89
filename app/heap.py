"""The process's garbage collector, once the process has started (ADR 0010).

CPython's cyclic collector scans every object it tracks in a full (generation 2) collection. A
started service process tracks hundreds of thousands (modules, schemas, the ORM's metadata, the
economy) that never become garbage. Under an ingest backlog each batch's objects (a batch of
5,000 records makes ~100,000) live across the whole batch: they survive the young collections,
are promoted, and set off full collections over the whole heap every batch or two, 50-110 ms each
(docs/profile-ingest.md, round 14). ``settle`` collects once and freezes what is left
(``gc.freeze``: a permanent generation no collection scans): a full collection then scans what
was made since. The young generations keep CPython's thresholds: a larger youngest generation
measured fewer collections under a backlog but pauses of 16-20 ms while boards stream, against
~0.5 ms (ADR 0010).

The cost: an object frozen here that later becomes unreachable only as part of a reference
cycle is never freed (anything else is freed by reference counting, frozen or not). What is
frozen is what start-up built, most of which lives as long as the process.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import Gauge

from app.logging import get_logger

log = get_logger(__name__)

FROZEN = Gauge(
    "flowcc_gc_frozen_objects",
    "Objects the garbage collector no longer scans: frozen once the process started (ADR 0010)",
)


def settle() -> int:
    """Once the process has started: collect, then freeze what survives. Returns how many
    objects are frozen. Calling it again freezes what was built since (each call collects
    first, and scans only what is not frozen yet)."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    FROZEN.set(frozen)
    log.info("heap_settled", frozen=frozen, ms=round((time.perf_counter() - started) * 1000, 1))
    return frozen
