"""Each sending organisation's feed configuration — its location mapping and processing-id
policy (app/occupancy/mapping.py) — from the economy's feeds file into ``location_maps``, where
every process and consumer reads it per batch. When it changes, every spell held in a location
exception is re-folded from its stored events: nothing is lost and nothing is replayed.

The file is ``FLOWCC_FEEDS_FILE``, else ``<economy>.feeds.yaml`` beside the economy file if
there is one; it is read at start and whenever it changes (no restart).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.changes import Delta
from app.config import Settings
from app.feeds.schemas import FeedReport, FeedStats
from app.ingest.repository import IngestRepository
from app.logging import get_logger
from app.occupancy.feed_repository import FeedRepository
from app.occupancy.mapping import LocationMap
from app.occupancy.projector import OccupancyProjector
from app.occupancy.repository import OccupancyRepository

log = get_logger(__name__)
CHUNK = 500  # spells re-folded per transaction


def feeds_path(settings: Settings) -> Path | None:
    if settings.feeds_file:
        return Path(settings.feeds_file)
    economy = Path(settings.economy_file)
    beside = economy.with_name(economy.name.removesuffix(".yaml") + ".feeds.yaml")
    return beside if beside.exists() else None


async def load_feeds(session: AsyncSession, mapping: LocationMap) -> bool:
    """Store each sender's configuration; True if anything changed. The caller commits."""
    rows = {
        feed.source: feed.model_dump(mode="json")
        for feed in mapping.organisations  # validated: rules and expressions are sound
    }
    digests = {
        source: hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
        for source, row in rows.items()
    }
    return await FeedRepository(session).replace_location_maps(rows, digests)


async def reapply_held(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Delta]:
    """Re-fold every spell held in a location exception (after a mapping or bed-master change);
    returns the board deltas of what moved."""
    async with sessionmaker() as session:
        held = await OccupancyRepository(session).held_encounters()
    deltas: list[Delta] = []
    for start in range(0, len(held), CHUNK):
        async with sessionmaker() as session, session.begin():
            projector = OccupancyProjector(OccupancyRepository(session))
            await projector.refold(held[start : start + CHUNK])
            deltas += await projector.deltas()
    log.info("held_spells_reapplied", spells=len(held))
    return deltas


async def load_feeds_file(
    sessionmaker: async_sessionmaker[AsyncSession], path: Path
) -> list[Delta] | None:
    """Read the file, store it, and re-apply held spells if it changed (else None)."""
    mapping = LocationMap.load(path)
    async with sessionmaker() as session, session.begin():
        changed = await load_feeds(session, mapping)
    if not changed:
        return None
    log.info("feeds_loaded", file=str(path), senders=len(mapping.organisations))
    return await reapply_held(sessionmaker)


async def feed_report(session: AsyncSession, since: datetime) -> FeedReport:
    """Every sender's figures since ``since`` (counters and exceptions: all time)."""
    repo = FeedRepository(session)
    grouped: dict[str, dict[str, dict[str, int]]] = {}
    for field in ("trigger", "hl7_version", "processing_id", "time_precision"):
        for source, value, count in await repo.events_by(field, since=since):
            grouped.setdefault(source, {}).setdefault(field, {})[value or "-"] = count
    quality = await repo.quality(since=since)
    codes = await repo.location_codes()
    counters: dict[str, dict[str, int]] = {}
    for source, counter, count in await repo.counters():
        counters.setdefault(source, {})[counter] = count
    sources = sorted(set(grouped) | set(codes) | set(counters))
    return FeedReport(
        since=since,
        sources=[_stats(s, grouped, quality, codes, counters) for s in sources],
        dead_letters=await IngestRepository(session).dead_letters_by_reason(),
    )


def _stats(
    source: str,
    grouped: dict[str, dict[str, dict[str, int]]],
    quality: dict[str, dict[str, int]],
    codes: dict[str, dict[str, int]],
    counters: dict[str, dict[str, int]],
) -> FeedStats:
    fields = grouped.get(source, {})
    measured = quality.get(source, {})
    events = measured.get("events", 0)
    precision = fields.get("time_precision", {})
    dropped = {
        name.rsplit(":", 1)[1]: count
        for name, count in counters.get(source, {}).items()
        if name.startswith("dropped:processing_id:")
    }
    located = codes.get(source, {})
    return FeedStats(
        source=source,
        events=events,
        by_trigger=dict(sorted(fields.get("trigger", {}).items())),
        by_version=fields.get("hl7_version", {}),
        by_processing_id=fields.get("processing_id", {}),
        dropped=dropped,
        duplicates=counters.get(source, {}).get("duplicates", 0),
        imputed_times=measured.get("imputed_times", 0),
        imprecise_times=precision.get("day", 0) + precision.get("hour", 0),
        out_of_order=measured.get("out_of_order", 0),
        out_of_order_pct=round(100 * measured.get("out_of_order", 0) / events, 2)
        if events
        else None,
        location_codes=located.get("codes", 0),
        location_messages=located.get("messages", 0),
        held_in_exception=located.get("held", 0),
    )
