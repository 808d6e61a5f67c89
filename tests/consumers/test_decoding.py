"""The consumer's decode worker (consumers/decoding.py): what it sends back is what the event
loop would have decoded, record for record — equal events, with the same dedupe keys and stored
payloads, and errors of the same kind and message — for the third-party corpus, the bench's
messages and hostile input; through a real worker process; a dead worker costs nothing (its
batch is decoded in the loop) and is replaced; and a backlog through the runner, on the real
broker and database, is decoded there and applied exactly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.changes import Delta
from app.config import Settings
from app.ingest.decoders.adt import decode_adt
from app.ingest.decoders.errors import DecodeError
from app.ingest.models import DeadLetter
from app.ingest.routing import build_handlers
from app.topology.models import Bed
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from bench.ingest import hl7_events
from consumers import metrics
from consumers.decoding import Decoded, DecodePool, decode_chunk, received
from consumers.runner import ConsumerRunner
from tests.factories import hl7
from tests.support.fuzz import inputs
from tests.support.kafka import committed, own_topics, produce

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


class Record(NamedTuple):
    topic: str
    value: bytes


def in_the_loop(kind: str, raw: bytes) -> Decoded:
    try:
        return decode_adt(kind, raw)
    except DecodeError as error:
        return error


def assert_same(kind: str, raws: Sequence[bytes], shipped: Sequence[Decoded | None]) -> None:
    assert len(shipped) == len(raws)
    for raw, mine in zip(raws, shipped, strict=True):
        theirs = in_the_loop(kind, raw)
        if isinstance(theirs, DecodeError):
            assert isinstance(mine, DecodeError), raw[:200]
            assert (mine.kind, mine.message) == (theirs.kind, theirs.message)
            continue
        assert isinstance(mine, list), raw[:200]
        assert mine == theirs
        assert [e.dedupe_key for e in mine] == [e.dedupe_key for e in theirs]
        stored = [e.model_dump_json(exclude_defaults=True) for e in mine]
        assert stored == [e.model_dump_json(exclude_defaults=True) for e in theirs]


def corpus(kind: str) -> list[bytes]:
    pattern = {"hl7v2": "hl7v2/*.hl7", "fhir": "fhir/*.json"}[kind]
    files = sorted(CORPUS.glob(pattern))
    if not files:
        pytest.fail(f"CORPUS ABSENT: nothing matches {CORPUS / pattern}")
    return [path.read_bytes() for path in files]


@pytest.mark.parametrize("kind", ["hl7v2", "fhir"])
def test_what_the_worker_sends_back_is_what_the_loop_decodes(kind: str) -> None:
    raws = corpus(kind) + ([value for _, value in hl7_events(300)] if kind == "hl7v2" else [])
    raws += [b"", b"MSH|^~\\&|x", b"\x00\xff" * 40, b"{}", b"[1, 2]"]
    shipped = [received(item) for item in decode_chunk(kind, raws)]
    assert_same(kind, raws, shipped)
    assert any(isinstance(d, DecodeError) for d in shipped), "errors are compared too"
    assert sum(isinstance(d, list) and bool(d) for d in shipped) >= 5, "events are compared"


@pytest.mark.parametrize("kind", ["hl7v2", "fhir"])
def test_hostile_input_comes_back_as_the_loop_decodes_it(kind: str) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=SLOW, database=None)
    @given(inputs(kind))
    def check(raw: bytes) -> None:
        assert_same(kind, [raw], [received(item) for item in decode_chunk(kind, [raw])])

    check()


def started(pool: DecodePool, records: Sequence[Any]) -> list[Decoded | None]:
    """The batch through the worker, once it is up (the first calls start it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        decoding = pool.start(records)
        if decoding is not None:
            decoded = pool.finish(decoding)
            assert decoded is not None
            return decoded
        time.sleep(0.05)
    pytest.fail("the decode worker did not start within 60 s")


def test_a_worker_process_decodes_a_backlog_as_the_loop_does() -> None:
    raws = [value for _, value in hl7_events(1_200)] + [b"MSH|^~\\&|broken"]
    records = [Record("t.hl7", raw) for raw in raws] + [Record("t.json", b"{}")]
    pool = DecodePool({"t.hl7": "hl7v2"}, min_records=1)
    try:
        decoded = started(pool, records)
    finally:
        pool.close(failed=False)
    assert decoded[-1] is None, "a record of another topic is left to the loop"
    assert_same("hl7v2", raws, decoded[:-1])
    assert DecodePool({"t.hl7": "hl7v2"}, min_records=2).start(records[:1]) is None, (
        "a poll of fewer records than the threshold is decoded in the loop: no round trip"
    )


def test_polls_joined_into_one_batch_come_back_by_position() -> None:
    """Under backlog the next batch fills up from several polls while one is applied: each
    poll's records join the batch's decoding, whatever their number, and come back in their
    places; a poll the worker did not take (not yet up) is left to the loop."""
    raws = [value for _, value in hl7_events(40)]
    first = [Record("t.hl7", raw) for raw in raws[:25]]
    second = [Record("t.json", b"{}"), *(Record("t.hl7", raw) for raw in raws[25:])]
    pool = DecodePool({"t.hl7": "hl7v2"}, min_records=20)
    try:
        assert pool.start(first[:5], backlog=False) is None, "below the threshold: the loop's"
        started(pool, first)  # the worker is up
        decoding = pool.start(first)
        decoding = pool.start(second, after=decoding, offset=len(first), backlog=True)
        assert decoding is not None
        assert decoding.size == 41
        decoded = pool.finish(decoding)
        late = pool.start(second[1:3], offset=41, backlog=True)
        assert late is not None
        assert late.size == 43
        tail = pool.finish(late)
    finally:
        pool.close(failed=False)
    assert decoded is not None
    assert tail is not None
    assert decoded[25] is None, "a record of another topic is left to the loop"
    assert_same("hl7v2", raws, decoded[:25] + decoded[26:])
    assert tail[:41] == [None] * 41, "records before the worker took a poll are the loop's"
    assert_same("hl7v2", raws[25:27], tail[41:])


def test_a_dead_worker_leaves_its_batch_to_the_loop_and_is_replaced() -> None:
    raws = [value for _, value in hl7_events(30)]
    records = [Record("t.hl7", raw) for raw in raws]
    pool = DecodePool({"t.hl7": "hl7v2"}, min_records=1, retry_seconds=0)
    failures = metrics.DECODE_WORKER_FAILURES._value.get()
    try:
        started(pool, records)
        assert pool._pool is not None
        for process in list(pool._pool._processes.values()):  # the worker is killed
            process.kill()
            process.join()
        decoding = pool.start(records)  # refused at once, or its tasks fail
        assert pool.finish(decoding) is None, "the batch goes to the loop"
        assert metrics.DECODE_WORKER_FAILURES._value.get() == failures + 1
        assert not pool.running
        assert_same("hl7v2", raws, started(pool, records))  # a new worker
    finally:
        pool.close(failed=False)


ORPHANED = """
import sys, time
from bench.ingest import hl7_events
from consumers.decoding import DecodePool

class Polled:
    topic, value = "t.hl7", hl7_events(1)[0][1]

pool = DecodePool({"t.hl7": "hl7v2"}, min_records=1)
while pool.start([Polled()]) is None:
    time.sleep(0.05)
open(sys.argv[1], "w").write(" ".join(map(str, pool._pool._processes)))
time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited (nobody has reaped it yet)


def test_a_worker_exits_when_its_consumer_is_killed(tmp_path: Path) -> None:
    pids = tmp_path / "workers"
    root = Path(__file__).resolve().parents[2]
    consumer = subprocess.Popen([sys.executable, "-c", ORPHANED, str(pids)], cwd=root)
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            assert consumer.poll() is None, "the consumer stand-in failed"
            time.sleep(0.05)
        workers = [int(pid) for pid in pids.read_text().split()]
        assert workers
        assert all(alive(pid) for pid in workers)
        consumer.kill()  # kill -9: no clean shutdown of its pool
        consumer.wait()
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "the worker outlived its consumer"
    finally:
        consumer.kill()


@pytest.fixture
async def economy(clean_db: AsyncEngine, settings: Settings) -> Settings:
    async with async_sessionmaker(clean_db)() as session, session.begin():
        await load_economy(session, EconomyConfig.load("deploy/economies/anyborough.yaml"))
    own = await own_topics(settings)
    kafka = own.kafka.model_copy(update={"decode_offload_records": 1})
    return own.model_copy(update={"kafka": kafka})


async def until(condition: Any, what: str, task: asyncio.Task[None]) -> None:
    async with asyncio.timeout(60):
        while not await condition():
            assert not task.done(), f"the runner stopped: {task.exception()!r}"
            await asyncio.sleep(0.05)


async def test_a_backlog_through_the_runner_is_decoded_by_the_worker_and_applied_exactly(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    beds = [f"B{n:02d}" for n in range(1, 11)]
    produce(economy, [(f"V{n}".encode(), hl7("A01", n, bed=b, visit=f"V{n}")) for n, b in
                      enumerate(beds)])  # fmt: skip

    async def publish(_: list[Delta]) -> None:
        return None

    runner = ConsumerRunner(
        kafka=economy.kafka,
        sessionmaker=async_sessionmaker(clean_db),
        handlers=build_handlers(economy.kafka),
        publish=publish,
    )
    task = asyncio.create_task(runner.run())
    try:

        async def ready() -> bool:
            return await committed(clean_db) == 10 and runner.decoder.running

        await until(ready, "the admissions applied and the worker up", task)
        in_worker = metrics.DECODED_IN_WORKER._value.get()
        moves = [(f"V{n}".encode(), hl7("A02", 60 + n, bed=f"B{n + 11:02d}", visit=f"V{n}"))
                 for n in range(10)]  # fmt: skip
        produce(economy, [*moves, (b"VX", b"MSH|^~\\&|broken")])

        async def applied() -> bool:
            return await committed(clean_db) == 21

        await until(applied, "the moves applied", task)
    finally:
        runner.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert metrics.DECODED_IN_WORKER._value.get() == in_worker + 11
    async with async_sessionmaker(clean_db)() as session:
        query = select(Bed.code, Bed.occupant_encounter_id).where(Bed.unit_id == "RAN01:AMU")
        occupants = dict((await session.execute(query)).all())
        letters = (await session.execute(select(DeadLetter))).scalars().all()
    assert {occupants[f"B{n + 11:02d}"] for n in range(10)} == {f"RAN:VN:V{n}" for n in range(10)}
    assert not any(occupants[b] for b in beds), "every admission moved on"
    broken = in_the_loop("hl7v2", b"MSH|^~\\&|broken")
    assert isinstance(broken, DecodeError)
    assert [(d.error_kind, d.error_message) for d in letters] == [(broken.kind, broken.message)]
