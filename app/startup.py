"""Work the lifespan does at start: load the economy, run the consumers in the background."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

import yaml

from app.board.fanout import Fanout
from app.board.hub import BoardHub
from app.changes import ALL_SITES, ENGINE_VIEW, to_all
from app.clock import Clock, ManualClock, OffsetClock, SystemClock
from app.config import Settings
from app.deps import Resources
from app.escalation.deps import EscalationRuntime
from app.escalation.profile import load_profile
from app.feeds.service import feeds_path, load_feeds_file
from app.flow.evaluator import Evaluator, EvaluatorConfig, Publish
from app.ingest.status import ConsumerStatus
from app.logging import get_logger
from app.pipeline import consumer_supervisor
from app.topics import all_topics
from app.topology.repository import TopologyRepository
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy

log = get_logger(__name__)
RETRY_SECONDS = 5.0
STOP_SECONDS = 10.0
ECONOMY_POLL_SECONDS = 5.0


async def load_configured_economy(resources: Resources) -> EconomyConfig:
    """Load the economy file into PostgreSQL, unless exactly this content is loaded already;
    then the senders' feed configuration (location mapping, processing-id policy)."""
    economy = await _load_economy(resources)
    path = feeds_path(resources.settings)
    if path is not None and path.exists():
        await load_feeds_file(resources.sessionmaker, path)
    return economy


async def _load_economy(resources: Resources) -> EconomyConfig:
    economy = EconomyConfig.load(resources.settings.economy_file)
    digest = hashlib.sha256(economy.model_dump_json().encode()).hexdigest()
    async with resources.sessionmaker() as session, session.begin():
        topology = TopologyRepository(session)
        if await topology.loaded_digest(economy.code) == digest:
            log.info("economy_unchanged", economy=economy.code)
            return economy
        counts = await load_economy(session, economy)
        await topology.record_digest(economy.code, digest)
    log.info("economy_loaded", economy=economy.code, **counts)
    return economy


def watch_economy(resources: Resources, hub: BoardHub, evaluator: Evaluator) -> asyncio.Task[None]:
    return asyncio.create_task(_watch_economy(resources, hub, evaluator), name="economy-watch")


async def _watch_economy(resources: Resources, hub: BoardHub, evaluator: Evaluator) -> None:
    """Reload the economy when its file changes: new wards and beds appear, removed empty ones
    go, the evaluator re-reads its sites, and every board reloads. An invalid file is reported and
    the running economy kept."""
    path = Path(resources.settings.economy_file)
    feeds = feeds_path(resources.settings)
    seen = await asyncio.to_thread(_mtime, path)
    seen_feeds = await asyncio.to_thread(_mtime, feeds) if feeds else None
    while True:
        await asyncio.sleep(ECONOMY_POLL_SECONDS)
        changed = await asyncio.to_thread(_mtime, path)
        if changed != seen:
            seen = changed
            try:
                await _load_economy(resources)
            except (OSError, ValueError, yaml.YAMLError) as error:
                log.error("economy_reload_refused", file=str(path), error=str(error)[:500])
                continue
            await evaluator.reload_topology()
            hub.resync_all()
        feeds = feeds_path(resources.settings)  # a feeds file may appear beside the economy
        changed_feeds = await asyncio.to_thread(_mtime, feeds) if feeds else None
        if feeds is not None and changed_feeds != seen_feeds:
            seen_feeds = changed_feeds
            await _reload_feeds(resources, local(hub, evaluator), evaluator.remote, feeds)


async def _reload_feeds(
    resources: Resources, here: Publish, others: Publish | None, path: Path
) -> None:
    """A new mapping: spells held in exception are placed now, on every board."""
    try:
        deltas = await load_feeds_file(resources.sessionmaker, path)
    except (OSError, ValueError, yaml.YAMLError) as error:
        log.error("feeds_reload_refused", file=str(path), error=str(error)[:500])
        return
    if deltas:
        await here(deltas)
        if others is not None:
            await others(deltas)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def build_evaluator(resources: Resources, hub: BoardHub, economy: EconomyConfig) -> Evaluator:
    settings = resources.settings
    clock: Clock = SystemClock()
    if settings.clock == "offset":
        clock = OffsetClock(settings.clock_start)
    elif settings.clock == "fixed":
        clock = ManualClock(settings.clock_start)
    config = EvaluatorConfig(
        profile=load_profile(settings.opel_profile),
        system_scope=economy.code,
        hours_lost_after=settings.hours_lost_after_minutes,
        sample_every=timedelta(seconds=settings.sample_every_seconds),
        ref_key=settings.auth.pseudonym_key or "",
    )
    return Evaluator(resources.sessionmaker, hub.publish_derived, clock, config)


def as_runtime(evaluator: Evaluator) -> EscalationRuntime:
    """The routes outside app/flow reach the evaluator through protocols (app.deps.Runtime,
    app.escalation.deps): mypy checks here, where both sides are known, that it fits them."""
    return evaluator


async def start_fanout(settings: Settings, evaluator: Evaluator, hub: BoardHub) -> Fanout:
    """Join the other API processes (ADR 0005): their committed deltas reach this evaluator and
    hub; this process leads (writes OPEL and samples) if no other process does."""

    def resync(views: list[str] | None) -> None:
        hub.resync(views)
        if views is None or ENGINE_VIEW in views:  # changes may have been missed: re-read
            evaluator.touch([ALL_SITES])

    fanout = Fanout(settings.db.url, local(hub, evaluator), resync)
    await fanout.start()
    evaluator.is_leader = lambda: fanout.leader
    evaluator.remote = fanout.send
    return fanout


def local(hub: BoardHub, evaluator: Evaluator) -> Publish:
    """This process's subscribers to committed changes: the board's hub, and the evaluator."""
    return to_all(hub.publish, evaluator.committed)


def committed(hub: BoardHub, evaluator: Evaluator, fanout: Fanout) -> Publish:
    """The consumers' hook after each commit: this process's hub and evaluator, then the rest."""
    return to_all(local(hub, evaluator), fanout.send)


def run_evaluator(evaluator: Evaluator) -> asyncio.Task[None]:
    return asyncio.create_task(_evaluator_forever(evaluator), name="flow-evaluator")


async def stop_evaluator(evaluator: Evaluator, task: asyncio.Task[None]) -> None:
    """Let the evaluation in progress finish and commit; cancel only if it will not."""
    evaluator.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=STOP_SECONDS)
    except TimeoutError:
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _evaluator_forever(evaluator: Evaluator) -> None:
    """A failed evaluation (database briefly away) is logged and retried, never fatal."""
    while True:
        try:
            await evaluator.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception(
                "evaluator_failed_restarting", error=repr(error), in_seconds=RETRY_SECONDS
            )
            await asyncio.sleep(RETRY_SECONDS)


def background_consumers(
    resources: Resources, publish: Publish, status: ConsumerStatus
) -> asyncio.Task[None]:
    """The consumers in this process, kept running (consumers/supervisor.py, found through its
    entry point: app/pipeline.py)."""
    supervise = consumer_supervisor()
    kafka = resources.settings.kafka
    return asyncio.create_task(
        supervise(
            kafka=kafka,
            sessionmaker=resources.sessionmaker,
            publish=publish,
            status=status,
            prepare=lambda: resources.kafka.ensure_topics(all_topics(kafka)),
        ),
        name="consumers",
    )
