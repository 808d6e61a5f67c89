"""Where the service finds its consumers (issue #19: the pipeline points one way).

The `consumers` package registers its supervisor under the ``flowcc.pipeline`` entry point
(pyproject.toml); `flowcc serve` and `flowcc consume` look it up here, so nothing in app imports
consumers. A missing registration (the project not installed) is an error, never a service
quietly running without its consumers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from importlib.metadata import entry_points
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.changes import Delta
from app.config import KafkaSettings
from app.errors import ConfigurationError
from app.ingest.status import ConsumerStatus

GROUP = "flowcc.pipeline"


class Supervise(Protocol):
    """Run consumers until cancelled, replacing a runner that fails (consumers/supervisor.py)."""

    def __call__(
        self,
        *,
        kafka: KafkaSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        publish: Callable[[list[Delta]], Awaitable[None]],
        status: ConsumerStatus,
        prepare: Callable[[], Awaitable[None]],
    ) -> Coroutine[Any, Any, None]: ...


def consumer_supervisor() -> Supervise:
    found = entry_points(group=GROUP, name="consumers")
    if not found:
        raise ConfigurationError(
            f"no consumers registered under the {GROUP!r} entry point: install the project "
            "(pip install .), which registers consumers.supervisor:supervise"
        )
    supervise: Supervise = next(iter(found)).load()
    return supervise
