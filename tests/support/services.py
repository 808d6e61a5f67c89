"""The real services the tests run against, as helpers (no fixtures: those are in
tests/conftest.py, which imports these). Test modules import helpers from tests/support only,
never from conftest or another test module (tests/test_support_imports.py)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.board.wire import PROTOCOL
from app.config import DbSettings, Settings


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(
            f"{name} is not set: run the suite with `make test`, which starts a real PostgreSQL "
            "and a real Kafka broker for it.",
            returncode=3,
        )
    return value


def _with_database(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


async def _recreate_database(server_url: str, name: str) -> None:
    engine = create_async_engine(
        DbSettings(DATABASE_URL=server_url).url, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        pytest.exit(f"PostgreSQL at {server_url} is not usable: {error}", returncode=3)
    finally:
        await engine.dispose()


def alembic_config(database_url: str) -> Config:
    config = Config("alembic.ini")
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


async def new_database(name: str) -> str:
    """A brand-new, empty database on the test server; returns its URL."""
    server_url = required_env("DATABASE_URL")
    await _recreate_database(server_url, name)
    return _with_database(server_url, name)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[object]:
    """The app with its lifespan run, as a real server would run it."""
    from app.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def live_server(
    settings: Settings, port: int | None = None, extra_env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """A real uvicorn serving the app in its own process (as in production: kafka-python keeps
    process-wide network state, so each server gets a process of its own); yields host:port."""
    import subprocess
    import sys

    from tests.support import free_port

    port = port or free_port()
    env = server_env(settings) | (extra_env or {})
    if settings.clock_start is not None:
        env["FLOWCC_CLOCK_START"] = settings.clock_start.isoformat()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--ws-per-message-deflate",
            "false",  # as flowcc serve
            "--ws-max-size",
            "65536",
            "--ws",
            PROTOCOL,  # as flowcc serve: board frames pre-framed (app/board/wire.py)
        ],
        env=env,
    )
    try:
        await until_ready(f"http://127.0.0.1:{port}/readyz", server)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(server)


@asynccontextmanager
async def live_consumer(settings: Settings) -> AsyncIterator[None]:
    """``flowcc consume`` in its own process: consumers only, no API."""
    import subprocess
    import sys

    consumer = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "consume"], env=server_env(settings)
    )
    try:
        yield
    finally:
        _stop(consumer)


def _stop(process: Any) -> None:
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def shared_clock() -> dict[str, str]:
    """The variables that shift this run's clock (libfaketime: ``faketime -f '+400d' make
    test``), for a process started with an environment of its own: every process of a test
    shares one clock (a broker's certificates made "in 2028" are not yet valid in 2026)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name == "LD_PRELOAD" or name.startswith(("FAKETIME", "DONT_FAKE"))
    }


def server_env(settings: Settings) -> dict[str, str]:
    return dict(os.environ) | {
        "DATABASE_URL": settings.db.url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka.topic_prefix,
        "KAFKA_GROUP_ID": settings.kafka.group_id,
        "FLOWCC_ENVIRONMENT": settings.environment,
        "FLOWCC_JWT_SECRET": settings.auth.jwt_secret or "",
        "FLOWCC_PSEUDONYM_KEY": settings.auth.pseudonym_key or "",
        "FLOWCC_DEMO_USERS": str(bool(settings.auth.demo_users)).lower(),
        "FLOWCC_FEEDS_FILE": settings.feeds_file or "",
        "FLOWCC_RUN_CONSUMERS": str(settings.run_consumers).lower(),
        "FLOWCC_CLOCK": settings.clock,
        "FLOWCC_BOARD_QUEUE_FRAMES": str(settings.board_queue_frames),
        "FLOWCC_BOARD_SEND_TIMEOUT_SECONDS": str(settings.board_send_timeout_seconds),
        "FLOWCC_BOARD_REVALIDATE_SECONDS": str(settings.board_revalidate_seconds),
        "FLOWCC_BOARD_ORIGINS": json.dumps(settings.board_origins),
        "FLOWCC_WEBHOOK_ALLOW": json.dumps(settings.webhook_allow),
        "FLOWCC_TOKEN_TTL": str(settings.auth.token_ttl_seconds),
    }


async def until_ready(url: str, server: Any) -> None:
    """Like a load balancer: traffic only once /readyz says 200 (consumers assigned)."""
    import httpx

    last = "no answer yet"
    try:
        async with httpx.AsyncClient() as client, asyncio.timeout(60):
            while True:
                if server.poll() is not None:
                    pytest.fail(f"the server exited with {server.returncode} before it was ready")
                try:
                    response = await client.get(url)
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text}"
                except httpx.TransportError as error:
                    last = f"{type(error).__name__}: {error}"
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"/readyz not 200 within 60 s; last answer: {last}")


def isolated_kafka(settings: Settings) -> Settings:
    """Settings with this test's own topics and consumer group, consumers on."""
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"i{uuid.uuid4().hex[:8]}.", "group_id": f"g-{uuid.uuid4().hex}"}
    )
    return settings.model_copy(update={"kafka": kafka, "run_consumers": True})


async def caught_up(settings: Settings, engine: AsyncEngine, within: float = 240) -> None:
    """Wait until the consumer group has stored (with its writes) every offset now in Kafka."""
    from app.db import create_sessionmaker
    from app.ingest.repository import IngestRepository
    from app.simulation.reset import end_offsets
    from app.topics import PARTITIONS

    ends = await asyncio.to_thread(end_offsets, settings)
    topics = [settings.kafka.topic(name) for name in PARTITIONS]
    async with asyncio.timeout(within):
        while True:
            async with create_sessionmaker(engine)() as session:
                stored = await IngestRepository(session).stored_offsets(
                    settings.kafka.group_id, topics
                )
            if all(stored.get(tp, -1) >= end for tp, end in ends.items() if end > 0):
                return
            await asyncio.sleep(0.1)
