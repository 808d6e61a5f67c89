"""Fixtures on REAL services: PostgreSQL migrated by Alembic and an Apache Kafka broker.

`make test` provisions both (deploy/local/stack.py) and passes DATABASE_URL and
KAFKA_BOOTSTRAP_SERVERS. If either is missing or unreachable the run stops with an error
naming it — tests are never skipped for want of a service.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.config import AuthSettings, DbSettings, KafkaSettings, Settings
from tests.support.secure_kafka import SecureBroker, secure_broker

TEST_DATABASE = "flowcc_pytest"


def pytest_configure(config: pytest.Config) -> None:
    """The suite opts in to development (demo users, dev login, a movable clock): with no
    settings the service is production (issue #16). Subprocesses inherit it; a test of the
    production behaviour sets its own environment."""
    os.environ.setdefault("FLOWCC_ENVIRONMENT", "development")


def _required_env(name: str) -> str:
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
    server_url = _required_env("DATABASE_URL")
    await _recreate_database(server_url, name)
    return _with_database(server_url, name)


@pytest.fixture(scope="session")
def database_url() -> str:
    url = asyncio.run(new_database(TEST_DATABASE))
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    bootstrap = _required_env("KAFKA_BOOTSTRAP_SERVERS")
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        admin.describe_cluster()
        admin.close()
    except Exception as error:
        pytest.exit(f"Kafka at {bootstrap} is not usable: {error}", returncode=3)
    return bootstrap


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A second broker listening with SASL_SSL only (started on first use)."""
    with secure_broker(tmp_path_factory.mktemp("secure-kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def settings(database_url: str, kafka_bootstrap: str) -> Settings:
    return Settings(
        environment="development",
        log_json=True,
        run_consumers=False,
        db=DbSettings(DATABASE_URL=database_url),
        kafka=KafkaSettings(
            KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
            KAFKA_TOPIC_PREFIX=f"t{uuid.uuid4().hex[:8]}.",
        ),
        auth=AuthSettings(),
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(DbSettings(DATABASE_URL=database_url).url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test (per-test isolation).

    Code under test may ``commit()``: it commits a SAVEPOINT, never the outer transaction.
    """
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture
async def clean_db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """For tests whose code commits through its own sessions: every table is emptied after."""
    yield engine
    async with engine.begin() as connection:
        tables = await connection.execute(
            text(
                "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        )
        names = tables.scalar_one()
        if names:
            # Triggers off for this cleanup only (audit_log refuses TRUNCATE; the suite's
            # superuser may say so, the service's role may not).
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def kafka_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Factory: a fresh, uniquely named topic per call; deleted after the test."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10000)
    created: list[str] = []

    def make(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name, partitions, 1)])
        created.append(name)
        return name

    yield make
    if created:
        admin.delete_topics(created)
    admin.close()


@pytest.fixture
async def asgi_client(settings: Settings) -> AsyncIterator[Any]:
    """An httpx client on the app in this process, its lifespan run and first evaluation done."""
    from httpx import ASGITransport, AsyncClient

    from app.main import create_app

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        await app.state.flow.ready.wait()
        yield client


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
        ],
        env=env,
    )
    try:
        await _until_ready(f"http://127.0.0.1:{port}/readyz", server)
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


async def _until_ready(url: str, server: Any) -> None:
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
