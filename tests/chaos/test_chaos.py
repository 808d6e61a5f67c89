"""The short chaos run of ``make test`` (issue #15): one fault of each kind — kill -9 of a
consumer, a broker restart, a PostgreSQL restart, a consumer stopped past its session timeout,
the database's disk filled — at random points while the simulator streams; the service recovers
by itself and ends in exactly the state the log implies. ``make chaos`` runs 30 of each."""

from __future__ import annotations

import asyncio

import pytest

from bench import chaos


@pytest.mark.slow
def test_one_fault_of_each_kind_and_the_state_is_the_reference() -> None:
    with chaos.lab(seed=11) as lab:  # its own broker and database: it stops them
        result = asyncio.run(chaos.run(lab, faults_per_kind=1))
    print({k: v for k, v in result.items() if k != "faults"})
    kinds = sorted(fault["kind"] for fault in result["faults"])
    assert kinds == sorted(chaos.KINDS)
    assert all(fault["recovery_seconds"] is not None for fault in result["faults"]), result
    assert result["lost_or_doubled"] == 0
    assert result["beds_equal"], result["beds_differing"]
    assert result["messages"] > 1_000
    assert result["service_restarts"] > 0, "the faults reached the service"
