"""The answer the event log implies, computed from the log itself, and the answer the service
holds — for tests and soaks that compare the two (crash, hand-over, chaos)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.ingest.decoders.hl7v2 import decode_hl7v2
from app.occupancy.events import AdtEvent
from app.occupancy.fold import fold
from app.occupancy.mapping import LocationMap
from app.occupancy.models import EncounterEvent
from app.occupancy.projector import bed_id_for
from app.topics import ADT_HL7V2
from app.topology.models import Bed
from app.topology.schemas import EconomyConfig


def read_topic(settings: Settings, name: str = ADT_HL7V2) -> list[bytes]:
    """Every record value of a topic, from its first offset to its end now."""
    topic = settings.kafka.topic(name)
    consumer = KafkaConsumer(**settings.kafka.client_options())
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    values: list[bytes] = []
    while any(consumer.position(tp) < end for tp, end in ends.items()):
        for records in consumer.poll(timeout_ms=500).values():
            values += [record.value for record in records]
    consumer.close()
    return values


# A bed's own status (A20), demographics (A28/A31) and merges (A40) are not events of a spell.
NOT_SPELL_EVENTS = frozenset({"A20", "A28", "A31", "A40"})


def reference(
    messages: list[bytes], economy_file: str = "deploy/economies/anyborough.yaml"
) -> tuple[dict[str, str], int]:
    """Expected occupant of every bed, and the number of distinct spell events — the events
    mapped into our codes by the economy's feeds file, as the service maps them."""
    mapping = _feeds(economy_file)
    spells: dict[str, dict[str, AdtEvent]] = defaultdict(dict)
    for raw in messages:
        for event in decode_hl7v2(raw):
            if event.trigger not in NOT_SPELL_EVENTS:
                spells[event.encounter_key][event.dedupe_key] = event
    occupants: dict[str, str] = {}
    for key, events in spells.items():
        state = fold([mapping.event(e) for e in events.values()])
        source = next(iter(events.values())).source
        bed = bed_id_for(state.location, source) if state.holds_bed else None
        if bed:
            assert bed not in occupants, f"the simulator double-booked {bed}"
            occupants[bed] = key
    return occupants, sum(len(events) for events in spells.values())


def _feeds(economy_file: str) -> LocationMap:
    economy = EconomyConfig.load(economy_file)
    path = Path(economy_file).with_name(
        Path(economy_file).name.removesuffix(".yaml") + ".feeds.yaml"
    )
    mapping = LocationMap.load(path) if path.exists() else LocationMap()
    return mapping.model_copy(update={"known_sites": frozenset(s.code for s in economy.sites)})


async def final_state(engine: AsyncEngine) -> tuple[dict[str, str], int]:
    """The occupant of every occupied bed, and how many spell events are stored."""
    async with async_sessionmaker(engine)() as session:
        query = select(Bed.id, Bed.occupant_encounter_id).where(
            Bed.occupant_encounter_id.is_not(None)
        )
        beds = {bed: str(occupant) for bed, occupant in (await session.execute(query)).all()}
        stored = await session.scalar(select(func.count()).select_from(EncounterEvent))
    return beds, int(stored or 0)
