"""``make soak`` (first part): the long fuzz of every decoder — the strategies of
tests/support/fuzz.py, ``--examples`` inputs per ingest kind (default 25,000: 125,000 in all) —
asserting for each input "events or a DecodeError, never a decoder crash, never another
exception", and recording counts, outcomes, rate and peak memory in docs/reliability.md."""

from __future__ import annotations

import argparse
import resource
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from app.ingest.decoders.errors import DecodeError
from app.ingest.routing import decode_for_kind
from bench.machine import describe
from bench.reliability import write_section
from tests.support.fuzz import KINDS, inputs

SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def fuzz(kind: str, examples: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    largest = 0

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=SLOW,
        database=None,
        phases=[Phase.generate, Phase.shrink],
    )
    @given(inputs(kind))
    def check(raw: bytes) -> None:
        nonlocal largest
        largest = max(largest, len(raw))
        try:
            decode_for_kind(kind, raw)
            outcomes["events"] += 1
        except DecodeError as error:
            if error.kind.startswith("decoder_crash"):
                raise AssertionError((error.message, raw[:300])) from error
            outcomes[error.kind] += 1

    started = time.perf_counter()
    check()
    seconds = time.perf_counter() - started
    return {
        "kind": kind,
        "inputs": sum(outcomes.values()),
        "seconds": round(seconds, 1),
        "outcomes": dict(outcomes.most_common()),
        "largest_input": largest,
    }


def render(results: list[dict[str, Any]], machine: dict[str, str], peak_mib: float) -> str:
    total = sum(r["inputs"] for r in results)
    lines = [
        "## Fuzz (bench/fuzz.py)",
        "",
        f"- **date**: {machine['date']}; **machine**: {machine['cpu']}, {machine['memory']}",
        f"- **inputs**: {total:,} in all; decoder crashes: **0**; other exceptions: **0**",
        f"- **peak resident memory of the fuzzing process**: {peak_mib:,.0f} MiB",
        "",
        "| Kind | Inputs | Seconds | Largest input | Outcomes |",
        "|---|---:|---:|---:|---|",
    ]
    for r in results:
        outcomes = ", ".join(f"{kind} {count:,}" for kind, count in r["outcomes"].items())
        lines.append(
            f"| {r['kind']} | {r['inputs']:,} | {r['seconds']:,} | {r['largest_input']:,} B "
            f"| {outcomes} |"
        )
    lines += [
        "",
        "Inputs are mutations of valid messages (escapes that expand, times at the calendar's "
        "edges, truncated MLLP, other encodings, lying separators, repetition bombs), random "
        "bytes, and random, deep (to 200,000 levels) and huge (to 3 MB) JSON.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=25_000, help="inputs per kind")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = []
    for kind in KINDS:
        results.append(fuzz(kind, args.examples))
        print(results[-1], flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not args.no_write:
        write_section("fuzz", render(results, describe(), peak))


if __name__ == "__main__":
    main()
