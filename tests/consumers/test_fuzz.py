"""Fuzz (issue #15): every decoder, and every ingest route, on hostile input — events or a
DecodeError (never a decoder crash, never any other exception), within bounded memory; a route
answers 202, 413 or 422, never a 5xx. A short run here; ``make soak`` runs bench/fuzz.py with
FLOWCC_FUZZ_EXAMPLES in the hundreds of thousands and records the count in
docs/reliability.md."""

from __future__ import annotations

import os
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.ingest.decoders.errors import DecodeError
from app.ingest.routing import decode_for_kind
from app.kafka import KafkaGateway
from app.topics import all_topics
from tests.support import bearer
from tests.support.fuzz import KINDS, inputs

EXAMPLES = int(os.environ.get("FLOWCC_FUZZ_EXAMPLES", "150"))
MEMORY_LIMIT = 50 * 1024 * 1024  # beyond the input itself
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def decode_within_bounds(kind: str, raw: bytes) -> str:
    """Decode ``raw`` as ``kind``; 'events' or the DecodeError's kind. Fails on anything else."""
    tracemalloc.start()
    try:
        try:
            decode_for_kind(kind, raw)
            outcome = "events"
        except DecodeError as error:
            outcome = error.kind
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not outcome.startswith("decoder_crash"), (outcome, raw[:300])
    assert peak < MEMORY_LIMIT + 4 * len(raw), f"{peak / 1e6:.0f} MB for {len(raw):,} bytes"
    return outcome


@pytest.mark.parametrize("kind", KINDS)
def test_every_decoder_gives_events_or_a_decode_error(kind: str) -> None:
    outcomes: set[str] = set()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW, database=None)
    @given(inputs(kind))
    def check(raw: bytes) -> None:
        outcomes.add(decode_within_bounds(kind, raw))

    check()
    assert "events" in outcomes, "the fuzz reaches valid messages too"
    assert len(outcomes) > 2, outcomes


def drawn_inputs(count: int) -> list[tuple[str, bytes]]:
    """``count`` hostile (kind, body) pairs, drawn by hypothesis (no I/O while drawing)."""
    drawn: list[tuple[str, bytes]] = []

    @settings(max_examples=count, deadline=None, suppress_health_check=SLOW, database=None)
    @given(st.sampled_from(KINDS), st.data())
    def draw(kind: str, data: st.DataObject) -> None:
        drawn.append((kind, data.draw(inputs(kind))))

    draw()
    return drawn


async def test_every_ingest_route_answers_4xx_never_5xx(
    asgi_client: Any, settings: Settings
) -> None:
    gateway = KafkaGateway(settings.kafka)  # valid inputs are produced: their topics exist
    await gateway.ensure_topics(all_topics(settings.kafka))
    await gateway.close()
    headers = await bearer(asgi_client, "pas.ingest")
    statuses: set[int] = set()
    for kind, raw in drawn_inputs(max(EXAMPLES // 2, 50)):
        response = await asgi_client.post(f"/api/v1/ingest/{kind}", content=raw, headers=headers)
        assert response.status_code in (202, 413, 422), (kind, response.text[:300], raw[:200])
        statuses.add(response.status_code)
    assert {202, 422} <= statuses
