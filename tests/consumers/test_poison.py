"""One bad message never stops a partition (issue #15): every poison pill is a DecodeError with
its own reason — never another exception, never unbounded memory — and, through the real broker
and database, lands in the dead-letter store between two valid records that are both applied.
Over REST the same bytes get a 422."""

from __future__ import annotations

import asyncio
import json
import re
import tracemalloc
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import topics
from app.ambulance.models import AmbulanceJourney
from app.carehomes.models import CareHomeVacancy
from app.config import Settings
from app.discharge.models import DischargePlan
from app.ingest.decoders.errors import DecodeError, decoding
from app.ingest.decoders.hl7v2 import decode_hl7v2
from app.ingest.models import DeadLetter
from app.ingest.routing import AdtHandler, HandlerFactory, build_handlers, decode_for_kind
from app.ingest.status import STUCK, STUCK_AFTER, ConsumerStatus
from app.occupancy.models import Encounter
from app.simulation.hl7 import hl7_time
from app.topology.models import Bed
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from consumers.batch import BatchApplier
from consumers.supervisor import supervise
from tests.factories import T0, hl7
from tests.support import bearer
from tests.support.handlers import CrashingAdt
from tests.support.kafka import consume_until, own_topics, produce

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


def with_evn6(message: bytes, value: str) -> bytes:
    """The message with its EVN-6 (when the event happened) replaced."""
    return re.sub(rb"(\rEVN\|[^\r]*\|)[^|\r]*(\r)", rb"\g<1>" + value.encode() + rb"\2", message)


def with_ward(message: bytes, ward: str) -> bytes:
    return message.replace(b"|I|AMU^", b"|I|" + ward.encode() + b"^", 1)


def hl7_poisons(visit: str) -> dict[str, bytes]:
    admission = hl7("A01", 0, bed="B20", visit=visit)
    day = hl7_time(T0)[:8]
    return {
        "offset +2400": with_evn6(admission, f"{day}+2400"),
        "year 0001 with an offset": with_evn6(admission, "00010101000000+0100"),
        "a .sp count that is not a number": with_ward(admission, "AMU\\.spX\\"),
        "an escape bomb": with_ward(admission, "AMU\\.in999999999\\" * 10),
    }


def ambulance(event_id: str, minutes: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "incident_id": f"INC-{event_id}",
        "step": "arrived_at_hospital",
        "category": 2,
        "destination_site": "RAN01",
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
    }


def care_home_report(report_id: str, vacant: int) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "home_code": "1-100000000",
        "open_to_admissions": True,
        "reported_at": (T0 + timedelta(minutes=vacant)).isoformat(),
        "beds": [
            {"bed_type": "nursing", "capacity": 10, "occupied": 10 - vacant, "vacant": vacant}
        ],
    }


def discharge(event_id: str, spell: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "spell_id": spell,
        "status": "ready",
        "pathway": "P1",
        "discharge_ready_at": T0.isoformat(),
        "occurred_at": T0.isoformat(),
    }


def encounter(identifier: str, bed: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"enc-{identifier}",
        "status": "in-progress",
        "meta": {"versionId": "1", "lastUpdated": T0.isoformat()},
        "identifier": [{"system": "RNF", "value": identifier}],
        "class": {"code": "IMP"},
        "location": [{"location": {"reference": f"Location/RNF01:AMU:{bed}"}, "status": "active"}],
    }


async def occupants(session: AsyncSession) -> dict[str, str | None]:
    return {bed.id: bed.occupant_encounter_id for bed in (await session.scalars(select(Bed)))}


def dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


# ---------------------------------------------------------------- the decoders alone


@pytest.mark.parametrize("name", list(hl7_poisons("VP")))
def test_each_hl7_poison_is_a_decode_error_with_a_reason(name: str) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_for_kind("hl7v2", hl7_poisons("VP")[name])
    assert raised.value.kind == "invalid_value"
    assert "VP" not in raised.value.message, "a reason never quotes the record"


@pytest.mark.parametrize("kind", ["fhir", "ambulance", "carehome", "discharge"])
def test_json_nested_100000_deep_is_undecodable_not_a_recursion_error(kind: str) -> None:
    with pytest.raises(DecodeError) as raised:
        decode_for_kind(kind, DEEP_JSON)
    assert raised.value.kind == "undecodable"
    assert "recursion limit" in raised.value.message


def test_the_escape_bomb_is_refused_within_50_mb() -> None:
    bomb = with_ward(hl7("A01", 0), "AMU\\.in999999999\\\\.sp999999999\\" * 50)
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError):
            decode_for_kind("hl7v2", bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while decoding the bomb"


def test_a_decoder_crash_is_a_decode_error_naming_the_exception() -> None:
    """A bug a record meets inside a decoder is kept as ``decoder_crash:<type>``."""

    def broken(raw: bytes) -> list[object]:
        return [{"x": 1}["missing"]]

    with pytest.raises(DecodeError) as raised:
        decoding(broken, b"anything")
    assert raised.value.kind == "decoder_crash:KeyError"
    assert "missing" not in raised.value.message
    assert "test_poison.py" in raised.value.message


# ---------------------------------------------------------------- through Kafka and PostgreSQL


@pytest.fixture
async def economy(clean_db: AsyncEngine, settings: Settings) -> Settings:
    async with async_sessionmaker(clean_db)() as session, session.begin():
        await load_economy(session, EconomyConfig.load("deploy/economies/anyborough.yaml"))
    return await own_topics(settings, prefix="p")


async def test_poison_between_two_valid_records_on_every_topic(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    poisons = hl7_poisons("VPOISON")
    produce(
        economy,
        [
            (b"VA", hl7("A01", 0, bed="B21", visit="VA")),
            *[(b"VPOISON", message) for message in poisons.values()],
            (b"VB", hl7("A01", 1, bed="B22", visit="VB")),
        ],
    )
    jsons: list[tuple[str, bytes, bytes]] = [
        (topics.ADT_FHIR, dump(encounter("71", "B11")), dump(encounter("72", "B12"))),
        (topics.AMBULANCE, dump(ambulance("A1", 1)), dump(ambulance("A2", 2))),
        (topics.CAREHOME_BEDS, dump(care_home_report("R1", 1)), dump(care_home_report("R2", 2))),
        (
            topics.DISCHARGE_STATUS,
            dump(discharge("D1", "RAN:VN:VA")),
            dump(discharge("D2", "RAN:VN:VB")),
        ),
    ]
    for topic, before, after in jsons:
        produce(economy, [(b"k", before), (b"k", DEEP_JSON), (b"k", after)], topic)

    await consume_until(economy, clean_db, len(poisons) + 2 + 3 * len(jsons))

    async with async_sessionmaker(clean_db)() as session:
        letters = (await session.execute(select(DeadLetter))).scalars().all()
        beds = await occupants(session)
        journeys = (await session.execute(select(AmbulanceJourney))).scalars().all()
        vacancy = await session.get(CareHomeVacancy, ("1-100000000", "nursing"))
        plans = (await session.execute(select(DischargePlan))).scalars().all()
    by_topic: dict[str, list[str]] = {}
    for letter in letters:
        by_topic.setdefault(letter.topic.split(".", 1)[1], []).append(letter.error_kind)
    assert sorted(by_topic.pop(topics.ADT_HL7V2)) == ["invalid_value"] * len(poisons)
    assert by_topic == {topic: ["undecodable"] for topic, _, _ in jsons}
    assert len({letter.error_message for letter in letters if "hl7" in letter.topic}) == len(
        poisons
    ), "each poison has its own reason"
    assert beds["RAN01:AMU:B21"] == "RAN:VN:VA"
    assert beds["RAN01:AMU:B22"] == "RAN:VN:VB"
    assert beds["RAN01:AMU:B20"] is None
    assert beds["RNF01:AMU:B11"] == "RNF:VN:71"
    assert beds["RNF01:AMU:B12"] == "RNF:VN:72"
    assert sorted(j.incident_id for j in journeys) == ["INC-A1", "INC-A2"]
    assert vacancy is not None
    assert vacancy.report_id == "R2"
    assert sorted(plan.spell_id for plan in plans) == ["RAN:VN:VA", "RAN:VN:VB"]


async def test_a_projection_crash_dead_letters_its_record_and_the_rest_apply(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    handlers: dict[str, HandlerFactory] = build_handlers(economy.kafka)
    handlers[economy.kafka.topic(topics.ADT_HL7V2)] = lambda session: CrashingAdt(
        session, decode_hl7v2
    )
    produce(
        economy,
        [
            (b"VA", hl7("A01", 0, bed="B13", visit="VA")),
            (b"VCRASH", hl7("A01", 0, bed="B14", visit="VCRASH")),
            (b"VB", hl7("A01", 1, bed="B15", visit="VB")),
        ],
    )
    await consume_until(economy, clean_db, 3, handlers=handlers)
    async with async_sessionmaker(clean_db)() as session:
        letters = (await session.execute(select(DeadLetter))).scalars().all()
        beds = await occupants(session)
    assert [letter.error_kind for letter in letters] == ["projection_crash:KeyError"]
    assert "a bug" not in letters[0].error_message
    assert beds["RAN01:AMU:B13"] == "RAN:VN:VA"
    assert beds["RAN01:AMU:B14"] is None
    assert beds["RAN01:AMU:B15"] == "RAN:VN:VB"


class _CountedCrashingAdt(CrashingAdt):
    attempts = 0

    async def apply_events(self, events: list[Any]) -> None:
        type(self).attempts += 1
        await super().apply_events(events)


async def test_a_refused_batch_is_halved_down_to_its_bad_records(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    """Two records a projection bug meets, in a batch of 64: both dead-lettered, the other 62
    applied in order — in at most 25 attempts (halving), not 65 (one by one)."""
    topic = economy.kafka.topic(topics.ADT_HL7V2)
    visits = [f"V{n:02d}" for n in range(64)]
    visits[9] = visits[50] = "VCRASH"
    records = [
        SimpleNamespace(
            topic=topic, partition=0, offset=n, key=visit.encode(),
            value=hl7("A01", n, bed=f"B{n % 20 + 1:02d}", visit=visit),
        )
        for n, visit in enumerate(visits)
    ]  # fmt: skip

    async def publish(deltas: list[Any]) -> None:
        return None

    _CountedCrashingAdt.attempts = 0
    applier = BatchApplier(
        group_id=f"g-{topic}",
        sessionmaker=async_sessionmaker(clean_db),
        handlers={topic: lambda session: _CountedCrashingAdt(session, decode_hl7v2)},
        publish=publish,
    )
    outcome = await applier.apply_batch(records)
    async with async_sessionmaker(clean_db)() as session:
        letters = (await session.execute(select(DeadLetter).order_by(DeadLetter.offset))).scalars()
        spells = set((await session.scalars(select(Encounter.id))).all())
    assert [(letter.offset, letter.error_kind) for letter in letters] == [
        (9, "projection_crash:KeyError"),
        (50, "projection_crash:KeyError"),
    ]
    assert spells == {f"RAN:VN:{visit}" for visit in visits if visit != "VCRASH"}
    assert outcome.commit == {(topic, 0): 64}
    assert _CountedCrashingAdt.attempts <= 25


# ---------------------------------------------------------------- over REST


async def test_the_same_poison_over_rest_is_a_422(asgi_client: Any) -> None:
    headers = await bearer(asgi_client, "pas.ingest")
    bodies = [("hl7v2", body) for body in hl7_poisons("VREST").values()]
    bodies += [(kind, DEEP_JSON) for kind in ("fhir", "ambulance", "carehome", "discharge")]
    for kind, body in bodies:
        response = await asgi_client.post(f"/api/v1/ingest/{kind}", content=body, headers=headers)
        assert response.status_code == 422, (kind, response.text)
        assert response.json()["error"]["code"] == "invalid_payload"


# ---------------------------------------------------------------- not the record's fault


class _DatabaseAway(AdtHandler):
    """Infrastructure failing whenever one spell's batch is applied (never its fault)."""

    async def apply_events(self, events: list[Any]) -> None:
        if any(event.encounter_key.endswith(":VSTUCK") for event in events):
            raise ConnectionRefusedError("PostgreSQL went away")
        await super().apply_events(events)


async def test_restarts_at_the_same_offset_raise_the_alert_and_show_on_readiness(
    economy: Settings, clean_db: AsyncEngine
) -> None:
    handlers = build_handlers(economy.kafka)
    topic = economy.kafka.topic(topics.ADT_HL7V2)
    handlers[topic] = lambda session: _DatabaseAway(session, decode_hl7v2)
    produce(economy, [(b"VSTUCK", hl7("A01", 0, bed="B40", visit="VSTUCK"))])
    status = ConsumerStatus()

    async def nothing() -> None:
        return None

    async def ignore(_: list[Any]) -> None:
        return None

    task = asyncio.create_task(
        supervise(
            kafka=economy.kafka,
            sessionmaker=async_sessionmaker(clean_db),
            publish=ignore,
            status=status,
            prepare=nothing,
            retry_seconds=0.2,
            handlers=handlers,
        )
    )
    try:
        async with asyncio.timeout(90):
            while status.restarts_in_a_row < STUCK_AFTER:
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    ready, detail = status.check()
    assert not ready
    assert detail.startswith(f"stuck: {STUCK_AFTER} restarts in a row at {topic}/")
    assert "ConnectionRefusedError: PostgreSQL went away" in detail
    assert STUCK._value.get() >= STUCK_AFTER  # the alert metric
    async with async_sessionmaker(clean_db)() as session:
        assert (await session.scalars(select(DeadLetter))).all() == [], "not the record's fault"
