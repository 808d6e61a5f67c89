"""The benchmarks still work (tiny sizes; the figures themselves come from make bench)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from bench import run

pytestmark = pytest.mark.usefixtures("clean_db")


async def test_the_benchmarks_run_and_report(settings: Settings, clean_db: AsyncEngine) -> None:
    results = await run.main(
        2_000, 1_000, write=None, sites=1, settings=settings, clients=10, few_clients=20,
        latency_seconds=1,
        fanout_sizes=(20,), fanout_seconds=1,
    )  # fmt: skip
    assert [row["events"] for row in results["ingest"]] == [2_000, 1_000]
    assert all(row["ours_per_second"] > 0 and row["ceiling_per_second"] > 0
               for row in results["ingest"])  # fmt: skip
    (hl7,) = [row for row in results["ingest"] if row["kind"] == "HL7 v2 ADT"]
    assert (hl7["spells_checked"], hl7["spells_differing"]) == (334, 0)  # 1,000 events / 3
    rebuilt = results["rebuild"]  # both topics again from offset 0 (no top-up at this size)
    assert (rebuilt["events"], rebuilt["spells_differing"]) == (3_000, 0)
    assert rebuilt["spells_checked"] > 0
    assert results["restart"]["identical"] is True
    assert results["restart"]["occupied"] == 930  # 93 % of one 1,000-bed site
    together, apart, few = results["latency"]
    assert (together["consumers"], apart["consumers"]) == ("in the board process", "own process")
    assert (together["clients"], few["clients"]) == (10, 20)
    assert few["consumers"] == together["consumers"]
    assert together["measured"] > 0  # frames carrying the produced events arrived
    # the harness's reference consumer (librdkafka) saw every event it produced
    assert together["kafka_measured"] == together["events"] == 200
    assert apart["measured"] > 0  # ... also from a consumer-only process, over NOTIFY
    (spread,) = results["fanout"]
    assert spread["ours"]["clients"] == spread["ceiling"]["clients"] == 20
    assert spread["ours"]["frames"] > 0  # the care-home reports reached every client
    assert spread["ceiling"]["frames"] > 0
    assert [row["processes"] for row in results["scale_out"]] == [1, 2]
    assert all(row["per_second"] > 0 for row in results["scale_out"])  # both groups finished
    assert [row["stage"] for row in results["stages"]] == ["ingest", "latency", "fanout", "restart"]
    assert "## 1. Ingest throughput" in run.render(results)
    assert "## 3. Fan-out" in run.render(results)
    assert "own process" in run.render(results)
