"""Secure by default (issue #16): with no settings the service is production — it refuses to
start without secrets, has no dev login, demo users or movable clock — and the production image
starts: the service is booted exactly as the Dockerfile lays it out and runs it."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth.schemas import Principal, Role
from app.auth.tokens import issue_token
from app.config import DEV_JWT_SECRET, AuthSettings, DbSettings, KafkaSettings, Settings
from app.web_security import HSTS, headers_for
from tests.factories import hl7
from tests.support import bearer, free_port
from tests.support.oidc_provider import openid_provider
from tests.support.secure_kafka import SecureBroker
from tests.support.services import new_database, shared_clock, until_ready

ROOT = Path(__file__).resolve().parents[1]
FLOWCC = Path(sys.executable).with_name("flowcc")
ALEMBIC = Path(sys.executable).with_name("alembic")


TLS = KafkaSettings.model_validate({"KAFKA_SECURITY_PROTOCOL": "SSL"})


def production(**auth: str | bool) -> Settings:
    return Settings(environment="production", auth=AuthSettings.model_validate(auth), kafka=TLS)


def strong() -> str:
    return secrets.token_urlsafe(48)


def test_no_settings_at_all_is_production_and_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("FLOWCC_ENVIRONMENT", "FLOWCC_JWT_SECRET", "FLOWCC_PSEUDONYM_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="unsafe settings for production") as refused:
        Settings()
    assert "FLOWCC_JWT_SECRET must be set" in str(refused.value)
    assert "FLOWCC_PSEUDONYM_KEY must be set" in str(refused.value)


@pytest.mark.parametrize(
    ("auth", "clock", "reason"),
    [
        ({"FLOWCC_JWT_SECRET": DEV_JWT_SECRET}, "system", "development value published"),
        ({"FLOWCC_JWT_SECRET": "short-secret"}, "system", "at least 32 characters"),
        ({"FLOWCC_DEMO_USERS": True}, "system", "FLOWCC_DEMO_USERS is for development only"),
        ({}, "offset", "FLOWCC_CLOCK must be 'system'"),
    ],
)
def test_production_refuses_each_unsafe_setting_by_name(
    auth: dict[str, str | bool], clock: str, reason: str
) -> None:
    values: dict[str, str | bool] = {
        "FLOWCC_JWT_SECRET": strong(),
        "FLOWCC_PSEUDONYM_KEY": strong(),
    }
    with pytest.raises(ValueError, match=reason):
        Settings(
            environment="staging",
            clock=clock,
            auth=AuthSettings.model_validate(values | auth),
            kafka=TLS,
        )


def test_production_with_strong_secrets_has_no_demo_users() -> None:
    settings = production(FLOWCC_JWT_SECRET=strong(), FLOWCC_PSEUDONYM_KEY=strong())
    assert settings.auth.demo_users is False
    assert not settings.development


def test_serve_with_no_settings_exits_with_the_reason() -> None:
    # Nothing of ours, not even the environment (but the run's clock: tests/support/services.py).
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"} | shared_clock()
    done = subprocess.run(
        [str(FLOWCC), "serve", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode != 0
    assert "FLOWCC_JWT_SECRET must be set" in done.stderr + done.stdout


def _image_layout(target: Path) -> tuple[list[str], dict[str, str]]:
    """Copy what the Dockerfile's last stage copies into ``target``; its CMD and ENV."""
    text = (ROOT / "Dockerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env |= dict(re.findall(r"(\w+)=(\S+)", line))
        if not line.startswith("COPY "):
            continue
        parts = line.split()[1:]
        if parts[0].startswith("--from="):  # the built frontend: built here by make test
            source, destination = ROOT / "frontend/dist", target / parts[2]
        else:
            source, destination = ROOT / parts[0], target / parts[1]
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, destination)
    command = json.loads(re.search(r"^CMD (\[.*\])$", final, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return command, env


@asynccontextmanager
async def service_login(database: str) -> AsyncIterator[str]:
    """A login role that is only a member of flowcc_app; the database URL connecting as it."""
    login = f"flowcc_image_{secrets.token_hex(4)}"
    owner = create_async_engine(DbSettings(DATABASE_URL=database).url)
    async with owner.connect() as connection:
        await connection.execute(text(f"CREATE ROLE {login} LOGIN IN ROLE flowcc_app"))
        await connection.commit()
    try:
        yield str(make_url(database).set(username=login))
    finally:
        async with owner.connect() as connection:
            await connection.execute(text(f"DROP OWNED BY {login}"))
            await connection.execute(text(f"DROP ROLE {login}"))
            await connection.commit()
        await owner.dispose()


async def _an_admission_reaches_the_board(client: httpx.AsyncClient, secret: str) -> None:
    auth = AuthSettings.model_validate({"FLOWCC_JWT_SECRET": secret})

    def header(role: Role) -> dict[str, str]:
        principal = Principal(subject=f"test-{role.value}", name="test", role=role)
        return {"Authorization": f"Bearer {issue_token(auth, principal)}"}

    message = hl7("A01", 0, bed="B11", visit="VIMG")
    sent = await client.post("/api/v1/ingest/hl7v2", content=message,
                             headers=header(Role.INTEGRATION_INGEST))  # fmt: skip
    assert sent.status_code == 202, sent.text
    for _ in range(300):
        site = await client.get("/api/v1/sites/RAN01", headers=header(Role.COMMANDER))
        assert site.status_code == 200, site.text
        if site.json()["beds"]["RAN01:AMU:B11"]["occupied"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the admission did not reach the board within 30 s")


async def test_the_production_image_starts(
    settings: Settings, secure_kafka: SecureBroker, tmp_path: Path
) -> None:
    """Production, its command, generated secrets, Kafka over SASL_SSL (production refuses
    plaintext), an OpenID provider for sign-in, and the database as a login role that is only
    a member of ``flowcc_app`` (the migrations ran as the owner): /readyz reports everything
    ok, sign-in goes to the provider, and an ADT message sent to the ingest API reaches the
    board through the broker, the consumers and the database."""
    command, image_env = _image_layout(tmp_path)
    assert image_env.get("FLOWCC_ENVIRONMENT") == "production"
    database = await new_database("flowcc_image")
    secret = strong()
    env = (
        image_env
        | shared_clock()
        | {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "DATABASE_URL": database,
            **secure_kafka.environment(),
            "KAFKA_TOPIC_PREFIX": f"image{secrets.token_hex(3)}.",
            "FLOWCC_JWT_SECRET": secret,
            "FLOWCC_PSEUDONYM_KEY": strong(),
        }
    )
    migrated = await asyncio.to_thread(
        subprocess.run, [str(ALEMBIC), "upgrade", "head"], env=env, cwd=tmp_path,
        capture_output=True, text=True,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    argv = [str(FLOWCC), *command[1:]]
    argv[argv.index("--port") + 1] = str(port)
    base = f"http://127.0.0.1:{port}"
    with openid_provider(base, tmp_path / "oidc.log") as provider:
        env |= provider.environment()
        async with service_login(database) as service_url:
            server = subprocess.Popen(argv, env=env | {"DATABASE_URL": service_url}, cwd=tmp_path)
            try:
                await until_ready(f"{base}/readyz", server)
                async with httpx.AsyncClient(base_url=base) as client:
                    await _an_admission_reaches_the_board(client, secret)
                    sign_in = await client.get("/api/v1/auth/oidc/login")
                    login = await client.post("/api/v1/auth/dev-login", json={"username": "admin"})
                    users = await client.get("/api/v1/auth/demo-users")
                    board = await client.get("/")
                    docs = [(await client.get(p)).status_code for p in ("/docs", "/openapi.json")]
                    ready = (await client.get("/readyz")).json()
            finally:
                server.terminate()
                server.wait(timeout=30)
    assert sign_in.status_code == 302  # to the identity provider (FLOWCC_OIDC_ISSUER)
    assert sign_in.headers["location"].startswith(provider.issuer)
    assert login.status_code == 404
    assert users.status_code == 404
    assert board.status_code == 200
    assert "frame-ancestors 'none'" in board.headers["content-security-policy"]
    assert board.headers["x-content-type-options"] == "nosniff"
    assert docs == [404, 404]  # no public docs or schema in production
    assert all(set(check) == {"ok"} for check in ready["checks"].values()), ready


async def test_security_headers_and_the_schema_for_integrations(
    asgi_client: httpx.AsyncClient,
) -> None:
    """Every response: nosniff, no framing, a same-origin CSP; every API response no-store (it is
    about patients); the schema to integrations and admins with their credentials."""
    admin = await bearer(asgi_client, "admin")
    economy = await asgi_client.get("/api/v1/economy", headers=admin)
    assert economy.headers["cache-control"] == "no-store"
    assert economy.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in economy.headers["content-security-policy"]
    assert "strict-transport-security" not in economy.headers  # plain HTTP: no HSTS
    schema = await asgi_client.get("/api/v1/openapi.json", headers=admin)
    assert schema.status_code == 200
    assert "/api/v1/economy" in schema.json()["paths"]
    site_manager = await bearer(asgi_client, "sm.anyborough")
    assert (await asgi_client.get("/api/v1/openapi.json", headers=site_manager)).status_code == 403
    assert (await asgi_client.get("/api/v1/openapi.json")).status_code == 401
    docs = await asgi_client.get("/docs")  # development: Swagger UI from its CDN, so no CSP
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers


def test_hsts_only_over_https() -> None:
    assert (b"strict-transport-security", HSTS) in headers_for("/", "https")
    assert all(name != b"strict-transport-security" for name, _ in headers_for("/", "http"))
