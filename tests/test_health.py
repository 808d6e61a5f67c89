"""/healthz, /readyz (real database and broker round trips) and /metrics."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.config import KafkaSettings, Settings
from tests.support import bearer, free_port
from tests.support.services import running_app


def _client(app: object) -> AsyncClient:
    assert isinstance(app, FastAPI)
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


async def test_healthz_is_alive(settings: Settings) -> None:
    async with running_app(settings) as app, _client(app) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_reports_database_and_kafka_with_latency(settings: Settings) -> None:
    async with running_app(settings) as app, _client(app) as client:
        response = await client.get("/readyz", headers=await bearer(client, "admin"))
    body = response.json()
    assert response.status_code == 200, body
    assert body["failed"] == []
    for dependency in ("database", "kafka"):
        assert body["checks"][dependency]["ok"] is True
        assert body["checks"][dependency]["latency_ms"] >= 0


async def test_readyz_is_503_naming_kafka_when_the_broker_is_unreachable(
    settings: Settings,
) -> None:
    dead_broker = KafkaSettings(
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}", KAFKA_REQUEST_TIMEOUT_MS=1500
    )
    broken = settings.model_copy(update={"kafka": dead_broker})
    async with running_app(broken) as app, _client(app) as client:
        response = await client.get("/readyz", headers=await bearer(client, "admin"))
        anonymous = await client.get("/readyz")
        commander = await client.get("/readyz", headers=await bearer(client, "commander"))
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["kafka"]
    assert body["checks"]["database"]["ok"] is True
    assert "kafka" in body["checks"]["kafka"]["error"]
    # A probe (or anyone) learns what failed, not the hosts and driver errors behind it.
    for other in (anonymous, commander):
        assert other.status_code == 503
        assert other.json() == {
            "status": "unavailable",
            "failed": ["kafka"],
            "checks": {"database": {"ok": True}, "kafka": {"ok": False}},
        }


async def test_metrics_exposes_prometheus_text(settings: Settings) -> None:
    async with running_app(settings) as app, _client(app) as client:
        await client.get("/healthz")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'flowcc_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text


async def test_unknown_route_gets_the_standard_error_body(settings: Settings) -> None:
    async with running_app(settings) as app, _client(app) as client:
        response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
