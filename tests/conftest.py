"""Fixtures on REAL services: PostgreSQL migrated by Alembic and an Apache Kafka broker.

`make test` provisions both (deploy/local/stack.py) and passes DATABASE_URL and
KAFKA_BOOTSTRAP_SERVERS. If either is missing or unreachable the run stops with an error
naming it — tests are never skipped for want of a service.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from alembic import command
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.config import AuthSettings, DbSettings, KafkaSettings, Settings
from tests.support.secure_kafka import SecureBroker, secure_broker
from tests.support.services import alembic_config, new_database, required_env

TEST_DATABASE = "flowcc_pytest"


def pytest_configure(config: pytest.Config) -> None:
    """The suite opts in to development (demo users, dev login, a movable clock): with no
    settings the service is production (issue #16). Subprocesses inherit it; a test of the
    production behaviour sets its own environment."""
    os.environ.setdefault("FLOWCC_ENVIRONMENT", "development")


@pytest.fixture(scope="session")
def database_url() -> str:
    url = asyncio.run(new_database(TEST_DATABASE))
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = required_env("KAFKA_BOOTSTRAP_SERVERS")
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
