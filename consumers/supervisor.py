"""The one consumer supervisor, for ``flowcc serve`` (in the board process) and ``flowcc consume``
(consumers alone): keep a runner going; when one fails — the database or the broker
unreachable, a stuck Kafka client — report it on the status (/readyz) and start a fresh one
after a pause, which continues from the offsets stored with the state. A record's own fault never
ends a runner (it is dead-lettered); only infrastructure does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import KafkaSettings
from app.ingest.routing import HandlerFactory, build_handlers
from app.ingest.status import ConsumerStatus
from app.logging import get_logger
from app.pipeline import Supervise
from consumers.runner import ConsumerRunner, Publish

log = get_logger(__name__)
RETRY_SECONDS = 5.0


async def supervise(
    *,
    kafka: KafkaSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    publish: Publish,
    status: ConsumerStatus,
    prepare: Callable[[], Awaitable[None]],
    retry_seconds: float = RETRY_SECONDS,
    handlers: dict[str, HandlerFactory] | None = None,
) -> None:
    """Run consumers until cancelled. ``prepare`` runs before each runner (creating topics)."""
    while True:
        runner: ConsumerRunner | None = None
        try:
            await prepare()
            runner = ConsumerRunner(
                kafka=kafka,
                sessionmaker=sessionmaker,
                handlers=handlers or build_handlers(kafka),
                publish=publish,
                on_progress=status.recovered,
            )
            status.started(runner)
            await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            status.failed(runner, _root(error))
            log.warning(
                "consumers_restarting",
                error=status.last_error,
                restarts_in_a_row=status.restarts_in_a_row,
                in_seconds=retry_seconds,
            )
            await asyncio.sleep(retry_seconds)


# Registered as the `flowcc.pipeline` entry point (pyproject.toml); mypy checks it fits.
_REGISTERED: Supervise = supervise


def _root(error: BaseException) -> BaseException:
    """The failure behind "the Kafka poll thread failed": what an operator needs to see."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error
