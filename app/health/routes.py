"""Liveness, readiness (database and Kafka round trips with latency) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.auth.apikeys import authenticate
from app.auth.schemas import Role
from app.deps import ResourcesDep
from app.errors import DependencyUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


async def _check_database(resources: ResourcesDep) -> float:
    started = time.perf_counter()
    try:
        async with resources.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=5)
    except Exception as error:  # any failure here means "not ready", with the reason shown
        raise DependencyUnavailable(f"database: {type(error).__name__}: {error}") from error
    return (time.perf_counter() - started) * 1000


async def _operator(request: Request, resources: ResourcesDep) -> bool:
    """An admin's token (optional here): only an operator sees hosts, errors and latencies."""
    header = request.headers.get("authorization", "")
    token = request.headers.get("x-api-key") or header.removeprefix("Bearer ").strip()
    if not token:
        return False
    try:
        who = await authenticate(token, resources.settings.auth, resources.sessionmaker)
    except Exception:  # a bad token, or no database for an API key: not an operator, still a probe
        return False
    return who.role == Role.ADMIN


def _public(checks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {"ok": check["ok"]} for name, check in checks.items()}


@router.get(
    "/readyz",
    summary="Readiness: a database query and a Kafka metadata round trip (the details —"
    " latencies, errors — to an admin's token only)",
    responses={503: {"description": "A dependency is unavailable; `failed` names it"}},
)
async def readyz(request: Request, resources: ResourcesDep) -> JSONResponse:
    results = await asyncio.gather(
        _check_database(resources), resources.kafka.ping(), return_exceptions=True
    )
    checks: dict[str, dict[str, Any]] = {}
    for name, result in zip(("database", "kafka"), results, strict=True):
        if isinstance(result, BaseException):
            checks[name] = {"ok": False, "error": str(result)}
        else:
            checks[name] = {"ok": True, "latency_ms": round(result, 2)}
    if resources.settings.run_consumers:
        consuming, detail = request.app.state.consumer_status.check()
        checks["consumers"] = {"ok": consuming, "detail" if consuming else "error": detail}
    failed = [name for name, check in checks.items() if not check["ok"]]
    if not await _operator(request, resources):
        checks = _public(checks)  # a probe needs the status; hosts and driver errors are ours
    body = {"status": "ready" if not failed else "unavailable", "failed": failed, "checks": checks}
    return JSONResponse(body, status_code=503 if failed else 200)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
