"""Work the lifespan does at start: load the economy, run the consumers in the background."""

from __future__ import annotations

import asyncio

from app.board.hub import BoardHub
from app.deps import Resources
from app.ingest.topics import all_topics
from app.logging import get_logger
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy

log = get_logger(__name__)
RETRY_SECONDS = 5.0


async def load_configured_economy(resources: Resources) -> None:
    economy = EconomyConfig.load(resources.settings.economy_file)
    async with resources.sessionmaker() as session, session.begin():
        counts = await load_economy(session, economy)
    log.info("economy_loaded", economy=economy.code, **counts)


class ConsumerStatus:
    """What /readyz reports about the in-process consumers."""

    def __init__(self) -> None:
        self.runner: object | None = None
        self.last_error: str | None = None

    def check(self) -> tuple[bool, str]:
        assigned = getattr(self.runner, "assigned", None)
        if assigned is not None and assigned.is_set():
            return True, "partitions assigned"
        return False, self.last_error or "consumers starting (no partitions assigned yet)"


def background_consumers(
    resources: Resources, hub: BoardHub, status: ConsumerStatus
) -> asyncio.Task[None]:
    return asyncio.create_task(_consume_forever(resources, hub, status), name="consumers")


async def _consume_forever(resources: Resources, hub: BoardHub, status: ConsumerStatus) -> None:
    """Keep the consumers running; if Kafka is down, /readyz says so and we retry."""
    from consumers.routing import build_handlers
    from consumers.runner import ConsumerRunner

    kafka = resources.settings.kafka
    while True:
        try:
            await resources.kafka.ensure_topics(all_topics(kafka))
            runner = ConsumerRunner(
                kafka=kafka,
                sessionmaker=resources.sessionmaker,
                handlers=build_handlers(kafka),
                publish=hub.publish,
            )
            status.runner, status.last_error = runner, None
            await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            status.runner, status.last_error = None, f"consumers restarting: {error!r}"[:300]
            log.warning("consumers_restarting", error=repr(error), in_seconds=RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
