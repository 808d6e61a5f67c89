"""``flowcc simulate``: drive the Anyborough economy's feeds into Kafka.

Speed: 1 = real time (make run), N = N× faster, 0 = as fast as possible. Deterministic for a
given --seed (the message stream is the same; wall-clock pacing differs).
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import simpy
import simpy.rt
from kafka import KafkaProducer

from app.config import Settings
from app.kafka import KafkaGateway, connect
from app.logging import get_logger
from app.simulation.community import CommunityBeds, CommunityHospital
from app.simulation.fhir import FhirEncounters
from app.simulation.hospital import Hospital
from app.simulation.journeys import CareHomeReporter, SendJson
from app.simulation.messy import FHIR_MESSY, MESSY_BY_DEFAULT, Messy
from app.topics import (
    ADT_FHIR,
    ADT_HL7V2,
    AMBULANCE,
    CAREHOME_BEDS,
    DISCHARGE_STATUS,
    all_topics,
)
from app.topology.schemas import EconomyConfig

log = get_logger(__name__)
Checkpoint = Callable[[datetime], None]
LATE_RATE = 0.01  # a message delivered a few minutes after later ones (out of order)
Truth = Callable[[dict[str, Any]], None]  # an hour's ground truth, one JSON Lines record


@dataclass(order=True)
class _Held:
    release_at: float
    order: int
    key: bytes = field(compare=False)
    value: bytes = field(compare=False)


class FeedWriter:
    """Sends to Kafka; holds back a small share of messages to deliver them out of order."""

    def __init__(self, producer: KafkaProducer, topic: str, rng: random.Random) -> None:
        self.producer, self.topic, self.rng = producer, topic, rng
        self.held: list[_Held] = []
        self.sent = 0
        self._order = 0

    def send(self, key: str, value: bytes, sim_minutes: float, late: float = 0.0) -> None:
        self.release(sim_minutes)
        if self.rng.random() < max(late, LATE_RATE):
            self._order += 1
            delay = self.rng.uniform(1, 10)
            heapq.heappush(self.held, _Held(sim_minutes + delay, self._order, key.encode(), value))
            return
        self.producer.send(self.topic, key=key.encode(), value=value)
        self.sent += 1

    def release(self, sim_minutes: float) -> None:
        while self.held and self.held[0].release_at <= sim_minutes:
            held = heapq.heappop(self.held)
            self.producer.send(self.topic, key=held.key, value=held.value)
            self.sent += 1


def simulate(
    settings: Settings,
    *,
    speed: float,
    seed: int,
    hours: float | None,
    warm: bool = True,
    start: datetime | None = None,
    json_feeds: bool = True,
    fhir_feeds: bool = True,
    every_hour: Checkpoint | None = None,
    truth: Truth | None = None,
    messy: frozenset[str] = MESSY_BY_DEFAULT,
    catch_up: bool = False,
) -> int:
    """Run the simulation; returns the number of messages sent. Without ``json_feeds`` only
    the hospitals' ADT is sent (no ambulance, discharge or care-home events); without
    ``fhir_feeds`` a trust configured with a FHIR feed sends HL7 v2 like the others.
    ``every_hour`` is called at each simulated hour once what was sent is in Kafka (the
    simulation waits for it: a test can read the service's answer as of that hour), after
    ``truth`` has been given that hour's ground truth (app/simulation/truth.py). The trusts
    in ``messy`` send what real PAS send (app/simulation/messy.py). With ``catch_up`` and a
    ``start`` in the past, the time up to now runs as fast as it can, then at ``speed``."""
    economy = EconomyConfig.load(settings.economy_file)
    rng = random.Random(seed)
    start = start or datetime.now(UTC).replace(microsecond=0)
    env: simpy.Environment = (
        simpy.rt.RealtimeEnvironment(factor=60.0 / speed, strict=False)
        if speed > 0
        else simpy.Environment()
    )
    if catch_up and isinstance(env, simpy.rt.RealtimeEnvironment):
        behind = max(0.0, (datetime.now(UTC) - start).total_seconds() / 60)
        env.real_start -= behind * env.factor  # every event before now is already due
    producer = connect(
        KafkaProducer,
        settings.kafka,
        acks="all",
        linger_ms=5,
        client_id="flowcc-simulator",
    )
    # The same topic creation the service uses (it also waits for partition leaders).
    asyncio.run(_ensure_topics(settings))
    writer = FeedWriter(producer, settings.kafka.topic(ADT_HL7V2), rng)
    fhir_writer = FeedWriter(producer, settings.kafka.topic(ADT_FHIR), rng)
    # The community trust's ADT: the same topic, its own generator (the acute feeds' late
    # deliveries are the same with or without it).
    community = FeedWriter(producer, settings.kafka.topic(ADT_HL7V2), random.Random("community"))
    feeds = {
        kind: FeedWriter(producer, settings.kafka.topic(topic), rng)
        for kind, topic in (
            ("ambulance", AMBULANCE),
            ("discharge", DISCHARGE_STATUS),
            ("carehome", CAREHOME_BEDS),
        )
    }

    def send_json(kind: str, key: str, value: bytes) -> None:
        feeds[kind].send(key, value, float(env.now))

    hospitals, _ = start_economy(
        env,
        economy,
        rng,
        start,
        {"hl7v2": writer, "fhir": fhir_writer if fhir_feeds else writer, "community": community},
        send_json if json_feeds else None,
        warm=warm,
        messy=messy,
    )
    for home in economy.care_homes if json_feeds else []:
        CareHomeReporter(env, home, random.Random(rng.getrandbits(64)), start, send_json).run()
    if every_hour is not None or truth is not None:
        writers = [writer, fhir_writer, community, *feeds.values()]
        env.process(_checkpoints(env, start, producer, writers, hospitals, every_hour, truth))
    log.info("simulation_started", speed=speed, seed=seed, hours=hours, start=start.isoformat())
    started = time.monotonic()
    until = hours * 60 if hours is not None else None
    try:
        env.run(until=until)
    except KeyboardInterrupt:
        pass
    finally:
        for feed in (writer, fhir_writer, community, *feeds.values()):
            feed.release(float("inf"))
        producer.flush()
        producer.close()
    sent = writer.sent + fhir_writer.sent + community.sent
    sent += sum(feed.sent for feed in feeds.values())
    log.info(
        "simulation_finished",
        messages=sent,
        adt_messages=writer.sent + community.sent,
        fhir_messages=fhir_writer.sent,
        seconds=time.monotonic() - started,
        simulated_until=(start + timedelta(minutes=float(env.now))).isoformat(),
    )
    return sent


class Writer(Protocol):
    def send(self, key: str, value: bytes, sim_minutes: float, late: float = 0.0) -> None: ...


def start_economy(
    env: simpy.Environment,
    economy: EconomyConfig,
    rng: random.Random,
    start: datetime,
    writers: Mapping[str, Writer],
    send_json: SendJson | None,
    *,
    warm: bool,
    messy: frozenset[str],
) -> tuple[list[Hospital], list[CommunityHospital]]:
    """The economy's acute hospitals and (with the JSON feeds, whose discharges fill them) its
    community hospitals, started."""
    orgs = {org.code: org for org in economy.organisations}
    hl7 = writers.get("community", writers["hl7v2"])
    community = [
        CommunityHospital(
            env,
            site,
            facility=site.org,
            version=orgs[site.org].hl7_version or "2.5.1",
            # Their own generators: the acute sites' streams are the same with or without them.
            rng=random.Random(f"community-{site.code}"),
            start=start,
            send=lambda key, value: hl7.send(key, value, float(env.now)),
        )
        for site in economy.sites
        if site.kind == "community" and send_json is not None
    ]
    beds = CommunityBeds(community)
    for place in community if warm else ():
        place.warm_start()
    hospitals = []
    neighbours = {la.code: la.neighbours for la in economy.local_authorities}
    for site in economy.sites:
        if site.kind != "acute":
            continue
        org = orgs[site.org]
        home_la = site.local_authority or ""
        writer = writers["fhir" if org.feed == "fhir" else "hl7v2"]
        fhir = org.feed == "fhir" and writer is not writers["hl7v2"]
        hospital = Hospital(
            env,
            site,
            facility=org.code,
            version=org.hl7_version or "2.5.1",
            rng=random.Random(rng.getrandbits(64)),
            start=start,
            send=_sender(env, writer),
            send_json=send_json,
            local_authorities=[home_la, *neighbours.get(home_la, [])][:2],
            fhir=FhirEncounters(org.code) if fhir else None,
            messy=(FHIR_MESSY if fhir else Messy()) if org.code in messy else None,
            on_p2=beds.route if community else None,
        )
        hospital.run(warm=warm)
        hospitals.append(hospital)
    return hospitals, community


def _checkpoints(
    env: simpy.Environment,
    start: datetime,
    producer: KafkaProducer,
    writers: list[FeedWriter],
    hospitals: list[Hospital],
    call: Checkpoint | None,
    truth: Truth | None,
) -> Generator[simpy.Event, Any, None]:
    """Each simulated hour: what is held back (late deliveries) is delivered — late, out of
    order, but by the hour — and flushed; then the hour's truth, then the caller."""
    while True:
        yield env.timeout(60)
        for feed in writers:
            feed.release(float("inf"))  # every late message is in by the hour
        producer.flush()
        at = start + timedelta(minutes=float(env.now))
        if truth is not None:
            sites = {h.site.code: h.truth.snapshot(at) for h in hospitals}
            truth({"at": at.isoformat(), "sites": sites})
        if call is not None:
            call(at)


def _sender(
    env: simpy.Environment, writer: Writer
) -> Callable[[str, bytes, datetime, float], None]:
    def send(key: str, value: bytes, _when: datetime, late: float) -> None:
        writer.send(key, value, float(env.now), late)

    return send


async def _ensure_topics(settings: Settings) -> None:
    gateway = KafkaGateway(settings.kafka)
    try:
        await gateway.ensure_topics(all_topics(settings.kafka))
    finally:
        await gateway.close()
