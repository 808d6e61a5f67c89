"""``make bench``: run the benchmarks and regenerate docs/benchmarks.md.

python -m bench.run            # full sizes (500,000 JSON and 200,000 HL7 events; ~15 min)
python -m bench.run --smoke    # tiny sizes, proves the benchmarks still work (make test)
python -m bench.run --json N --hl7 M   # chosen sizes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from app.config import Settings
from bench import fanout, ingest, latency, restart
from bench.machine import describe
from tests.support import free_port

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
TARGETS = {"JSON (ambulance events)": 25_000, "HL7 v2 ADT": 10_000}
FANOUT_SIZES = (1_000, 5_000, 10_000)
SCALE_EVENTS = 60_000  # HL7 v2 events for the 1- and 2-process comparison
REBUILD_EVENTS = 1_000_000  # re-consumed from offset 0 (the ingest stage's, topped up with HL7)


async def main(
    json_count: int,
    hl7_count: int,
    write: Path | None,
    sites: int = restart.SITES,
    settings: Settings | None = None,
    clients: int = 1_000,
    few_clients: int = 100,
    latency_seconds: float = 30,
    fanout_sizes: tuple[int, ...] = FANOUT_SIZES,
    fanout_seconds: float = 15,
    rebuild_total: int = 0,
) -> dict[str, Any]:
    settings = settings or Settings(environment="development", log_level="WARNING")
    stages = Stages()
    print(f"machine load (1 min) at start: {stages.load_before:.2f} on {os.cpu_count()} cores")
    throughput, rebuilt = await ingest.run(
        settings, json_count=json_count, hl7_count=hl7_count, rebuild_total=rebuild_total
    )
    scaled = await ingest.scale_out(settings, count=min(hl7_count, SCALE_EVENTS))
    stages.done("ingest")
    latencies = [
        await latency.run(
            settings, port=free_port(), clients=boards, rate=200, seconds=latency_seconds,
            apart=apart,
        )
        # The target's 1,000 boards, consumers in the board process and apart; and a command
        # centre's more usual hundred (the frame interval is shaped by the clients to write to).
        for boards, apart in ((clients, False), (clients, True), (few_clients, False))
    ]  # fmt: skip
    stages.done("latency")
    spread = await fanout.run(
        settings, ports=(free_port(), free_port()), sizes=fanout_sizes, seconds=fanout_seconds
    )
    stages.done("fanout")
    # Last: it loads a regional economy (10 more sites) the others should not carry.
    restarted = await restart.run(settings, port=free_port(), site_count=sites)
    stages.done("restart")
    results = {
        "machine": describe() | {"load (1 min) at start": f"{stages.load_before:.2f}"},
        "ingest": [
            {
                "kind": t.kind,
                "events": t.events,
                "ours_per_second": round(t.ours_per_second),
                "ceiling_per_second": round(t.ceiling_per_second),
                "ratio": round(t.ratio, 3),
                "target_per_second": TARGETS[t.kind],
                "spells_checked": t.spells_checked,
                "spells_differing": t.spells_differing,
            }
            for t in throughput
        ],
        "rebuild": {
            "events": rebuilt.events,
            "seconds": round(rebuilt.seconds, 1),
            "per_second": round(rebuilt.per_second),
            "spells_checked": rebuilt.spells_checked,
            "spells_differing": rebuilt.spells_differing,
        },
        "scale_out": scaled,
        "restart": restarted,
        "latency": latencies,
        "fanout": spread,
        "stages": stages.rows,
    }
    print(json.dumps(results, indent=2))
    if write is not None:
        write.write_text(render(results), encoding="utf-8")
        print(f"wrote {write}")
    return results


class Stages:
    """Each stage's wall time, the harness's own CPU over it (this process: producers, clients,
    the reference consumers; the service runs in processes of its own) and the machine's load
    at its end — what else was competing for the 2 cores."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self.load_before = os.getloadavg()[0]

    def done(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        seconds = wall - self._wall
        self.rows.append({
            "stage": name, "seconds": round(seconds, 1),
            "harness_cpu_pct_of_a_core": round(100 * (cpu - self._cpu) / max(seconds, 1e-9)),
            "load_1min_at_end": round(os.getloadavg()[0], 2),
        })  # fmt: skip
        self._wall, self._cpu = wall, cpu


def _scale_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "### Scale-out: `flowcc consume` processes in one consumer group",
        "",
        "HL7 v2 ADT on its 6 partitions, consumed by 1, then 2, consumer processes of their own",
        "(fresh topics, group and spells each time), timed from the first event produced to the",
        "last offset stored, with the processes already holding their partitions.",
        "",
        "| Processes | Events | Events/s | × one process |",
        "|---:|---:|---:|---:|",
    ]
    one = next((r["per_second"] for r in rows if r["processes"] == 1), 0) or 1
    lines += [
        f"| {r['processes']} | {r['events']:,} | {r['per_second']:,} | "
        f"{r['per_second'] / one:.2f} |"
        for r in rows
    ]
    return lines


def _stages_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## Stages: the harness's own CPU and the machine's load",
        "",
        "The harness (producers, board clients, reference consumers) runs in the bench process;",
        "the service under test in processes of its own. Load average: runnable processes on",
        "the machine's 2 cores over the last minute, at the stage's end.",
        "",
        "| Stage | Seconds | Harness CPU (% of a core) | Load (1 min) at end |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['stage']} | {r['seconds']:.0f} | {r['harness_cpu_pct_of_a_core']} | "
        f"{r['load_1min_at_end']} |"
        for r in rows
    ]
    return lines


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Regenerated by `make bench` (`python -m bench.run`). Every figure is measured next to a",
        "ceiling taken on the same machine in the same run; figures on these machines are noisy.",
        "",
        "## Machine",
        "",
        *[f"- **{key}**: {value}" for key, value in machine.items()],
        "",
        "## 1. Ingest throughput",
        "",
        "Events produced first, then read from offset 0 to the end. *Ours*: the consumer runner",
        "(decode, deduplicate, project, offsets in the same PostgreSQL transaction, commit).",
        "*Ceiling*: a bare kafka-python consumer reading the same topic.",
        "",
        "| Feed | Events | Ours (events/s) | Ceiling (events/s) | Ratio | Target | Met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in results["ingest"]:
        met = row["ours_per_second"] >= row["target_per_second"] and row["ratio"] >= 0.35
        lines.append(
            f"| {row['kind']} | {row['events']:,} | {row['ours_per_second']:,} | "
            f"{row['ceiling_per_second']:,} | {row['ratio']:.2f} | "
            f"≥ {row['target_per_second']:,}/s and ≥ 0.35 × ceiling | "
            f"{'yes' if met else '**no**'} |"
        )
    for row in results["ingest"]:
        if row.get("spells_checked"):
            lines += [
                "",
                f"{row['kind']}: every spell's state at the end ({row['spells_checked']:,} spells, "
                "advanced batch by batch from its stored fold, ADR 0008) compared with a full fold "
                f"of its stored history: **{row['spells_differing']:,} differ**.",
            ]
    if rebuilt := results.get("rebuild"):
        lines += [
            "",
            f"**Rebuild from offset 0** (`flowcc rebuild`: the derived state emptied, both topics "
            f"re-consumed by one consumer process): {rebuilt['events']:,} events in "
            f"{rebuilt['seconds']:,} s, **{rebuilt['per_second']:,} events/s**; every spell's "
            f"state after it ({rebuilt['spells_checked']:,}) against a full fold of its history: "
            f"**{rebuilt['spells_differing']:,} differ**.",
        ]
    lines += _scale_section(results.get("scale_out", []))
    lines += _stages_section(results.get("stages", []))
    lines += _latency_section(results["latency"])
    lines += _fanout_section(results["fanout"])
    r = results["restart"]
    lines += [
        "",
        "## 4. Restart",
        "",
        f"Regional-scale state: {r['beds']:,} beds ({r['occupied']:,} occupied), "
        f"{r['care_homes']} care homes, {r['ed_and_ambulance_items']:,} open ED and ambulance "
        "items. Time from process start to `/readyz` 200 (economy load, engine evaluation of "
        "every site, consumers assigned).",
        "",
        "| | Seconds | Target | State identical |",
        "|---|---:|---|---|",
        f"| First start | {r['first_start_seconds']:.2f} | | |",
        f"| Restart | {r['restart_seconds']:.2f} | ≤ 3 s "
        f"({'met' if r['restart_seconds'] <= 3 else '**missed**'}) | "
        f"{'yes' if r['identical'] else '**no**'} |",
        "",
        "## What limits these figures",
        "",
        "- Latency: everything shares 2 cores. The client harness reads frames with a small",
        "  websocket client of its own (bench/wsclient.py): the `websockets` client took most",
        "  of a core at 1,000 clients and was most of the gap between the server's stamp and",
        "  the board. While streaming the harness takes ~35-40 % of a core (its producer and",
        "  reference consumer on librdkafka: on kafka-python their threads took ~30 % more)",
        "  and the board process ~55-65 %: the machine ~1.35-1.55 of its 2 cores (the CPU",
        "  column). With the consumers in a process of their own, one more busy process",
        "  shares the 2 cores: the board process waits for a core now and then (a flush of",
        "  133 ms seen where ~13 ms is usual), so that row's p99 is about twice. At 1,000",
        "  clients a frame goes at most every 33 ms (30,000 socket writes a second, ADR",
        "  0006), written to every socket in the flush (~13 ms for 1,000); the engine's",
        "  figures ride in the events' next frame, one frame a batch instead of two. What",
        "  remains of the service's share is the consumer batch: ~12 records in ~30-40 ms",
        "  at this load, ~14 statements in sequence (a SAVEPOINT only for a refused batch),",
        "  of which PostgreSQL's own time is a fifth to a third (its duration log); the",
        "  rest is the client's side, mostly the event loop busy with other work (the",
        "  flush, an evaluation) when an answer arrives. An event waits for the batch in",
        "  progress, its own, then the frame interval. Details: profile-ingest.md, rounds",
        "  6, 10 and 11.",
        "- Ingest: one Python thread per consumer process. A backlog fills batches of up",
        "  to 5,000 records (KAFKA_MAX_POLL_RECORDS): 500 → 5,000 took HL7 from ~3,400 to",
        "  ~5,300 events/s and JSON from ~19,000 to ~30,000. Under backlog the next batch's",
        "  ADT records are decoded in a worker process while one is applied (ADR 0002):",
        "  ~+20 % for one consumer process, and the next batch fills up from as many polls",
        "  as it takes, each decoded there as it arrives (~+5 %). The event loop is then",
        "  busy ~60 % of the time and waits for PostgreSQL the rest: each of a batch's",
        "  statements needs the one before, so the loop's Python (~95-120 µs an HL7 event:",
        "  the projection) and PostgreSQL's statements (~65 µs of wall an event; a spell's",
        "  row is written twice, locked by an upsert and then updated) take turns, and the",
        "  machine is ~1.5 of its 2 cores busy; details in profile-ingest.md, rounds 7 to",
        "  9. With two consumer processes on these 2 cores",
        "  no core is idle for the worker, so the scale-out row gains little; without the",
        "  worker two processes measured 1.3-1.6 × one. The bare consumer's ceiling polls",
        "  5,000 records at a time like ours: ~80,000-154,000 events/s (it varies by",
        "  nearly half between runs here, and the ratios with it). Here a spell's three",
        "  events are 3,000 apart, so a batch touches as many spells as it has events.",
        "- Restart: ~1.9 s of it is importing the Python modules (-X importtime: SQLAlchemy",
        "  0.43 s, our models and schemas 0.40 s, FastAPI 0.21 s, kafka-python 0.17 s); then",
        "  ~0.2 s of lifespan (the economy file parsed and found unchanged — its digest is",
        "  stored, so 10,000 beds are not upserted again — the engine and the fan-out started)",
        "  and ~0.45 s until the consumer group has assigned the partitions.",
        "- Fan-out: read by the small client (bench/wsclient.py), both servers deliver",
        "  every frame offered and their p99 fell several-fold (10,000 clients, ours",
        "  2,729 -> ~170-480 ms, the ceiling's 1,072 -> ~180-440). Each frame goes to",
        "  10,000 sockets from a process that also runs the consumers and the engine, on",
        "  the 2 cores the harness reads them with, so the 10,000-client p99 against the",
        "  ceiling's varies between runs: within 1.2 x in the last two `make bench` runs,",
        "  not in the one before them.",
        "",
        "## 5. Profile",
        "",
        "The ingest path's profile, its top costs and what was changed because of it:",
        "[profile-ingest.md](profile-ingest.md).",
        "",
    ]
    return "\n".join(lines)


def _latency_section(runs: list[dict[str, Any]]) -> list[str]:
    first = runs[0]
    lines = [
        "",
        "## 2. Latency: produce → websocket frame",
        "",
        f"{first['clients']:,} connected clients (40 % site:RAN01, 30 % site:RWV01, 20 % system, "
        f"10 % discharges) — and, last, {runs[-1]['clients']:,} —, "
        f"{first['rate_per_second']:.0f} ADT events/s for "
        f"{first['seconds']:.0f} s ({first['events']:,} events, half of them admissions). Each "
        "admission is timed from the moment it is handed to the Kafka producer to the moment "
        "each site-view client receives the frame carrying it; *to server send* is the part up "
        "to the frame's server timestamp (Kafka, consumer batch, commit, fan-out, hub tick). "
        "Run twice: the consumers inside the board process (`make run`), and in a process of "
        "their own (`flowcc consume` beside a board process). *Reference*: a bare consumer's "
        "produce → consume latency for the same events, same run. The harness produces and "
        "reads the reference with librdkafka (confluent-kafka): the producer stands for "
        "hospital systems on other machines, and kafka-python's producer and reference "
        "threads took ~30 % of a core beside the service on the same 2 cores (its reference "
        "also waited for them: Kafka alone p99 ~35-75 ms then, ~15-30 ms with librdkafka, "
        "so the p99 target became stricter).",
        "",
        "| Consumers | Clients | Deliveries timed | Frames (mean bytes) | All snapshots (s) | "
        "p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | To server send p50 / p99 (ms) | "
        "Kafka alone p50 / p99 (ms) | CPU while streaming, % of a core: harness / service / "
        "machine (of 200) | Target (#17): p50 ≤ 50, p99 ≤ Kafka p99 + 150, "
        "to server send p99 ≤ 100 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for lat in runs:
        board, send, ref = lat["board_ms"], lat["server_send_ms"], lat["kafka_ms"]
        verdict = "met" if _latency_met(lat) else "**missed**"
        if lat["clients"] != first["clients"]:
            verdict = f"(the target is for {first['clients']:,}; measured: {verdict.strip('*')})"
        lines.append(
            f"| {lat['consumers']} | {lat['clients']:,} | {lat['measured']:,} | {lat['frames']:,} "
            f"({lat['mean_frame_bytes']:,}) | {lat['all_snapshots_seconds']} | {board['p50']} | "
            f"{board['p95']} | {board['p99']} | {board['max']} | {send['p50']} / {send['p99']} | "
            f"{ref['p50']} / {ref['p99']} | {_cpu(lat)} | {verdict} |"
        )
    return lines


def _cpu(lat: dict[str, Any]) -> str:
    cpu = lat.get("while_streaming_pct_of_a_core")
    return f"{cpu['harness']} / {cpu['service']} / {cpu['machine']}" if cpu else "—"


def _latency_met(lat: dict[str, Any]) -> bool:
    board, send, kafka = lat["board_ms"], lat["server_send_ms"], lat["kafka_ms"]
    return bool(board["p50"] <= 50 and board["p99"] <= kafka["p99"] + 150 and send["p99"] <= 100)


def _fanout_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## 3. Fan-out: one API process, every client receiving one update a second",
        "",
        "*Ours*: N clients signed in and subscribed to one authority's care-home view; one",
        "care-home report a second changes it (Kafka → consumer → engine → hub → every client).",
        "Delivery = client receive time − the frame's server send time. *Ceiling*: the same",
        "clients on a bare `websockets` server pushing a frame of the same size with",
        "`broadcast()` once a second, same run. Each server is timed from the first update to",
        "reach a client (ours: the consumer has joined its group) over the same 15-s window: the",
        "frames it sends in the window (the frame's server time) that reach a client within 2 s",
        "after it. Memory: server RSS growth per connection.",
        "",
        "| Clients | Ours frames/s | Ceiling frames/s | Ratio | Ours p50 / p99 (ms) | "
        "Ceiling p50 / p99 (ms) | KiB/conn (ours / ceiling) | Target |",
        "|---:|---:|---:|---:|---|---|---|---|",
    ]
    for row in rows:
        ours, ref = row["ours"], row["ceiling"]
        p99, ceiling_p99 = ours["delivery_ms"]["p99"], ref["delivery_ms"]["p99"]
        met = row["ratio"] >= 0.9 and p99 <= 1.2 * ceiling_p99
        target = "≥ 0.9 × ceiling and p99 ≤ 1.2 × ceiling's" if ours["clients"] >= 10_000 else ""
        verdict = f" ({'met' if met else '**missed**'})" if target else ""
        lines.append(
            f"| {ours['clients']:,} | {ours['frames_per_second']:,} | "
            f"{ref['frames_per_second']:,} | {row['ratio']:.2f} | "
            f"{ours['delivery_ms']['p50']} / {ours['delivery_ms']['p99']} | "
            f"{ref['delivery_ms']['p50']} / {ref['delivery_ms']['p99']} | "
            f"{ours['kib_per_connection']} / {ref['kib_per_connection']} | {target}{verdict} |"
        )
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; do not write the doc")
    parser.add_argument("--json", type=int, default=500_000)
    parser.add_argument("--hl7", type=int, default=200_000)
    args = parser.parse_args()
    if args.smoke:
        asyncio.run(
            main(
                2_000,
                1_000,
                write=None,
                sites=1,
                clients=10,
                few_clients=20,
                latency_seconds=1,
                fanout_sizes=(20,),
                fanout_seconds=1,
            )
        )
    else:
        asyncio.run(main(args.json, args.hl7, write=DOC, rebuild_total=REBUILD_EVENTS))
