"""Typed FastAPI dependencies, declared once (``SessionDep``, ``SettingsDep``, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.clock import Clock
from app.config import Settings
from app.kafka import KafkaGateway


@dataclass
class Resources:
    """Everything the lifespan builds; reachable from requests through the dependencies."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    kafka: KafkaGateway


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


def get_kafka(resources: ResourcesDep) -> KafkaGateway:
    return resources.kafka


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """One request, one transaction: committed here at the edge if the handler succeeds."""
    async with resources.sessionmaker() as session, session.begin():
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
KafkaDep = Annotated[KafkaGateway, Depends(get_kafka)]
# scope="function": the transaction commits when the handler returns, BEFORE the response is
# sent — a client that reads after a 2xx sees its write, and a failed commit is not a 2xx.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


class Runtime(Protocol):
    """What request handlers outside app/flow need of the running evaluator (app.flow's Evaluator
    provides it; app/startup.py checks that statically). Domains depend on this, not on the
    evaluator, which depends on them (issue #19: no import cycle)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def system_scope(self) -> str:
        """The economy's code: the scope of the system's OPEL level."""

    @property
    def local_authorities(self) -> list[str]:
        """The economy's local authorities (each a scope of discharges and samples)."""

    @property
    def ref_key(self) -> str:
        """Keys the opaque references of people on the discharge views."""

    async def changed(self, sites: list[str]) -> None:
        """Something committed outside the consumers: re-evaluate these sites everywhere."""


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.flow
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Path parameters shared by routes (documented with examples in the OpenAPI schema).
SiteCode = Annotated[str, Path(max_length=32, examples=["RAN01"], description="An acute site")]
Scope = Annotated[
    str,
    Path(max_length=32, examples=["RAN01"], description="A site code, or the economy's code"),
]
