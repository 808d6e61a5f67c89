"""``make chaos`` (a short version runs in ``make test``: tests/chaos/): faults injected at random
points while the simulator streams, then the final state compared with the reference fold of
everything in the log — nothing lost, nothing applied twice (issue #15).

The lab is its own: a PostgreSQL whose database lives in a tablespace on a small tmpfs (so the
disk can really fill), a Kafka broker, two ``flowcc consume`` processes in one group and the
simulator (``flowcc simulate --adt-only``) — each a process the harness can stop. Faults:

- ``kill9``     a consumer is killed with SIGKILL and started again;
- ``broker``    the Kafka broker is stopped and started again (its data kept);
- ``postgres``  PostgreSQL is stopped (fast shutdown) and started again;
- ``zombie``    a consumer is stopped (SIGSTOP) past its session timeout — the group gives its
                partitions to the other — then continued (SIGCONT): its late batch must be a
                no-op, fenced by the offsets stored in the same transaction as the state;
- ``disk``      the tablespace's file system is filled to the last byte for a few seconds, then
                freed (PostgreSQL refuses every write with "disk full" meanwhile).

Recovery time of a fault: from the moment it is lifted until the stored offsets move again.
The run writes its figures to docs/reliability.md.

    python -m bench.chaos                    # 30 faults of each kind (~45 min)
    python -m bench.chaos --faults 2 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from app.config import DbSettings, KafkaSettings, Settings
from app.kafka import KafkaGateway
from app.simulation.reset import end_offsets
from app.topics import all_topics
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from bench.machine import describe
from bench.reliability import write_section
from tests.support.kafka import committed
from tests.support.reference import final_state, read_topic, reference

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("kill9", "broker", "postgres", "zombie", "disk")
SESSION_TIMEOUT_SECONDS = 10.0  # consumers/runner.py session_timeout_ms
TABLESPACE_MB = 512


def _stack() -> ModuleType:
    """deploy/local/stack.py (a script, not a package): its PostgreSQL and Kafka starters."""
    if "flowcc_stack" in sys.modules:
        return sys.modules["flowcc_stack"]
    spec = importlib.util.spec_from_file_location("flowcc_stack", ROOT / "deploy/local/stack.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["flowcc_stack"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass
class Fault:
    kind: str
    lifted_at: float
    recovery_seconds: float | None = None


@dataclass
class Lab:
    """The services of one chaos run, each restartable."""

    stack: ModuleType
    profile: Any
    seed: int
    consumers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    simulator: subprocess.Popen[bytes] | None = None
    database_url: str = ""
    bootstrap: str = ""
    tablespace: Path = Path()

    @property
    def settings(self) -> Settings:
        return Settings(
            environment="development",
            log_level="WARNING",
            db=DbSettings(DATABASE_URL=self.database_url),
            kafka=KafkaSettings(KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, KAFKA_GROUP_ID="chaos"),
        )

    def env(self) -> dict[str, str]:
        return dict(os.environ) | {
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_GROUP_ID": "chaos",
            "FLOWCC_ENVIRONMENT": "development",
            "FLOWCC_LOG_LEVEL": "WARNING",
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.profile.home.mkdir(parents=True, exist_ok=True)
        self.tablespace = self.profile.home / "tablespace"
        _mount_tmpfs(self.tablespace, TABLESPACE_MB)
        server = self.stack.start_postgres(self.profile)
        self._database_on_tablespace(server)
        self.bootstrap = self.stack.start_kafka(self.profile)
        self.profile.fresh = False  # restarts keep the data
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            env=self.env(), check=True, capture_output=True, cwd=ROOT,
        )  # fmt: skip
        asyncio.run(self._topics())
        self.consumers = [self._consumer(0), self._consumer(1)]

    def _database_on_tablespace(self, server_url: str) -> None:
        """The database's files on the tmpfs; the WAL stays on the real disk."""
        owner = self.stack.pg_os_user()
        if owner is not None:
            shutil.chown(self.tablespace, owner)
        psql = [str(self.stack.pg_bin("psql")), "-h", "127.0.0.1", "-p",
                str(self.profile.pg_port), "-U", "postgres", "-d", "flowcc", "-v",
                "ON_ERROR_STOP=1", "-c"]  # fmt: skip
        subprocess.run(
            [*psql, f"CREATE TABLESPACE chaos LOCATION '{self.tablespace}'"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run([*psql, "CREATE DATABASE chaos TABLESPACE chaos"], check=True)
        self.database_url = server_url.rsplit("/", 1)[0] + "/chaos"

    async def _topics(self) -> None:
        gateway = KafkaGateway(self.settings.kafka)
        try:
            await gateway.ensure_topics(all_topics(self.settings.kafka))
        finally:
            await gateway.close()
        engine = self.engine()
        try:
            async with async_sessionmaker(engine)() as session, session.begin():
                await load_economy(session, EconomyConfig.load(self.settings.economy_file))
        finally:
            await engine.dispose()

    def engine(self) -> AsyncEngine:
        return create_async_engine(DbSettings(DATABASE_URL=self.database_url).url, pool_size=2)

    def _consumer(self, number: int) -> subprocess.Popen[bytes]:
        """Consumer ``number`` of the group, with a static member id (as production runs them:
        a restarted process takes its partitions straight back)."""
        env = self.env() | {"KAFKA_GROUP_INSTANCE_ID": f"chaos-consumer-{number}"}
        with (self.profile.home / "consumers.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "app.cli", "consume"], env=env, stdout=log, stderr=log
            )

    def stream(self, speed: float, hours: float) -> None:
        with (self.profile.home / "simulator.log").open("ab") as log:
            self.simulator = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "simulate", "--adt-only", "--speed",
                 str(speed), "--hours", str(hours), "--seed", str(self.seed)],
                env=self.env(), stdout=log, stderr=log,
            )  # fmt: skip

    def stop(self) -> None:
        for process in [*self.consumers, *([self.simulator] if self.simulator else [])]:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.profile.stop_all()
        _unmount(self.tablespace)

    def restarts(self) -> int:
        """How often the consumers replaced a failed or stuck runner by themselves (their log)."""
        log = (self.profile.home / "consumers.log").read_text(errors="replace")
        return int(log.count('"consumers_restarting"') + log.count('"consumer_stalled_restarting"'))

    # ------------------------------------------------------------------ faults

    def child(self, name: str) -> Any:
        return next(c for c in self.profile.children if c.name == name)

    def restart(self, name: str, down_seconds: float) -> None:
        child = self.child(name)
        child.proc.send_signal(child.stop_signal)
        child.proc.wait(timeout=60)
        self.profile.children.remove(child)
        time.sleep(down_seconds)
        if name == "kafka":
            self.stack.start_kafka(self.profile)
        else:
            self.stack.start_postgres(self.profile)

    def kill9(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.consumers))
        self.consumers[index].kill()
        self.consumers[index].wait()
        self.consumers[index] = self._consumer(index)

    def zombie(self, rng: random.Random) -> None:
        victim = self.consumers[rng.randrange(len(self.consumers))]
        victim.send_signal(signal.SIGSTOP)
        time.sleep(SESSION_TIMEOUT_SECONDS + rng.uniform(2, 5))
        victim.send_signal(signal.SIGCONT)

    def fill_disk(self, hold_seconds: float) -> None:
        """Fill the tablespace's file system to the last byte, hold, free it."""
        filler = self.tablespace / "filler"
        with filler.open("wb", buffering=0) as out:
            for size in (1 << 20, 1 << 12):  # megabytes, then the last few kilobytes
                block = b"\0" * size
                with contextlib.suppress(OSError):  # ENOSPC: full
                    while True:
                        out.write(block)
        time.sleep(hold_seconds)
        filler.unlink()


def _mount_tmpfs(path: Path, megabytes: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(
            f"chaos: the disk-full fault needs a small file system of its own (mount -t tmpfs, "
            f"as root): {done.stderr.strip()}"
        )


def _unmount(path: Path) -> None:
    if path.exists():
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


async def _wait_for_progress(engine: AsyncEngine, since: int, within: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < within:
        with contextlib.suppress(Exception):  # the database may itself be coming back
            if await committed(engine) > since:
                return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def _offsets(engine: AsyncEngine) -> int:
    while True:
        with contextlib.suppress(Exception):
            return await committed(engine)
        await asyncio.sleep(0.2)


async def inject(lab: Lab, kind: str, rng: random.Random, engine: AsyncEngine) -> Fault:
    """One fault; returns when it is lifted and the stored offsets have moved again."""
    if kind == "kill9":
        await asyncio.to_thread(lab.kill9, rng)
    elif kind == "broker":
        await asyncio.to_thread(lab.restart, "kafka", rng.uniform(1, 3))
    elif kind == "postgres":
        await engine.dispose()
        await asyncio.to_thread(lab.restart, "postgres", rng.uniform(1, 3))
    elif kind == "zombie":
        await asyncio.to_thread(lab.zombie, rng)
    elif kind == "disk":
        await asyncio.to_thread(lab.fill_disk, rng.uniform(3, 6))
    fault = Fault(kind, time.monotonic())
    fault.recovery_seconds = await _wait_for_progress(engine, await _offsets(engine), 180)
    return fault


def schedule(kinds: tuple[str, ...], per_kind: int, rng: random.Random) -> list[str]:
    order = [kind for kind in kinds for _ in range(per_kind)]
    rng.shuffle(order)
    return order


async def run(
    lab: Lab, faults_per_kind: int, *, kinds: tuple[str, ...] = KINDS, speed: float = 1200
) -> dict[str, Any]:
    """Stream, inject every fault, stop the stream, wait for the consumers to finish, compare."""
    rng = random.Random(lab.seed)
    lab.stream(speed=speed, hours=24 * 60)
    engine = lab.engine()
    faults: list[Fault] = []
    started = time.monotonic()
    try:
        await _wait_for_progress(engine, 0, 120)
        for kind in schedule(kinds, faults_per_kind, rng):
            await asyncio.sleep(rng.uniform(0.5, 3))
            faults.append(await inject(lab, kind, rng, engine))
            print(f"chaos: {kind} recovered in {faults[-1].recovery_seconds}", flush=True)
        assert lab.simulator is not None
        lab.simulator.terminate()  # it flushes what it holds, then exits
        await asyncio.to_thread(lab.simulator.wait, 120)
        messages = await asyncio.to_thread(read_topic, lab.settings)
        total = await _log_end(lab)
        async with asyncio.timeout(600):
            while await _offsets(engine) < total:
                await asyncio.sleep(0.5)
        expected, distinct = reference(messages)
        beds, stored = await final_state(engine)
    finally:
        await engine.dispose()
    lost_or_doubled = stored - distinct
    return {
        "seconds": round(time.monotonic() - started),
        "messages": len(messages),
        "distinct_events": distinct,
        "stored_events": stored,
        "lost_or_doubled": lost_or_doubled,
        "beds_equal": beds == expected,
        "beds_differing": sorted(set(beds.items()) ^ set(expected.items()))[:10],
        "occupied_beds": len(beds),
        "service_restarts": lab.restarts(),
        "faults": [f.__dict__ for f in faults],
    }


async def _log_end(lab: Lab) -> int:
    ends = await asyncio.to_thread(end_offsets, lab.settings)
    return sum(ends.values())


@contextlib.contextmanager
def lab(seed: int = 7, *, keep: bool = False) -> Iterator[Lab]:
    stack = _stack()
    name = f"chaos-{uuid.uuid4().hex[:6]}"
    profile = stack.Profile(
        name, stack.free_port(), stack.free_port(), stack.free_port(), fresh=True
    )
    chaos = Lab(stack, profile, seed)
    try:
        chaos.start()
        yield chaos
    finally:
        chaos.stop()
        if not keep:
            shutil.rmtree(profile.home, ignore_errors=True)


def render(result: dict[str, Any], machine: dict[str, str]) -> str:
    rows = []
    for kind in KINDS:
        times = [f["recovery_seconds"] for f in result["faults"] if f["kind"] == kind]
        done = sorted(t for t in times if t is not None)
        if not times:
            continue
        median = done[len(done) // 2] if done else None
        rows.append(
            f"| {kind} | {len(times)} | {len(times) - len(done)} | "
            f"{median if median is None else f'{median:.1f}'} | "
            f"{f'{done[-1]:.1f}' if done else '-'} |"
        )
    verdict = "identical" if result["beds_equal"] and not result["lost_or_doubled"] else "DIFFERENT"
    return "\n".join(
        [
            "## Chaos (bench/chaos.py)",
            "",
            f"- **date**: {machine['date']}; **machine**: {machine['cpu']}, {machine['memory']}",
            f"- **stream**: {result['messages']:,} HL7 v2 messages ({result['distinct_events']:,} "
            f"distinct spell events) over {result['seconds']:,} s, 2 consumer processes",
            f"- **final state vs the reference fold of the log**: {verdict} — stored events "
            f"{result['stored_events']:,} (lost or doubled: {result['lost_or_doubled']}), "
            f"{result['occupied_beds']:,} occupied beds",
            f"- **the consumers replaced a failed or stuck runner by themselves** "
            f"{result['service_restarts']} times",
            "",
            "| Fault | Injected | Not recovered in 180 s | Median recovery (s) | Worst (s) |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            "Recovery: from the moment a fault is lifted (process restarted, broker or database "
            "back, the stopped consumer continued, the disk freed) until the stored offsets move "
            "again. Nobody intervenes: the consumers' supervisor restarts what failed.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faults", type=int, default=30, help="faults of each kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds")
    parser.add_argument("--keep", action="store_true", help="keep .local/chaos-*/ (logs)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    kinds = tuple(kind for kind in args.kinds.split(",") if kind in KINDS)
    with lab(args.seed, keep=args.keep) as chaos:
        result = asyncio.run(run(chaos, args.faults, kinds=kinds))
    print({k: v for k, v in result.items() if k != "faults"})
    if not args.no_write:
        write_section("chaos", render(result, describe()))
    if not result["beds_equal"] or result["lost_or_doubled"]:
        raise SystemExit("chaos: the final state differs from the reference")


if __name__ == "__main__":
    main()
