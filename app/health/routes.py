"""Liveness, readiness (database and Kafka round trips with latency) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
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


class Check(BaseModel):
    ok: bool
    latency_ms: float | None = None
    detail: str | None = None
    error: str | None = Field(default=None, description="To an admin's token only")


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    failed: list[str] = Field(description="The checks that failed: database, kafka, consumers")
    checks: dict[str, Check]


@router.get(
    "/readyz",
    summary="Readiness: a database query and a Kafka metadata round trip (the details —"
    " latencies, errors — to an admin's token only)",
    responses={
        503: {"description": "A dependency is unavailable; `failed` names it", "model": Readiness}
    },
    response_model=Readiness,
)
async def readyz(request: Request, resources: ResourcesDep) -> JSONResponse:
    results = await asyncio.gather(
        _check_database(resources), resources.kafka.ping(), return_exceptions=True
    )
    checks: dict[str, Check] = {}
    for name, result in zip(("database", "kafka"), results, strict=True):
        if isinstance(result, BaseException):
            checks[name] = Check(ok=False, error=str(result))
        else:
            checks[name] = Check(ok=True, latency_ms=round(result, 2))
    if resources.settings.run_consumers:
        consuming, detail = request.app.state.consumer_status.check()
        checks["consumers"] = (
            Check(ok=True, detail=detail) if consuming else Check(ok=False, error=detail)
        )
    failed = [name for name, check in checks.items() if not check.ok]
    if not await _operator(request, resources):  # a probe needs the status; errors are ours
        checks = {name: Check(ok=check.ok) for name, check in checks.items()}
    body = Readiness(status="unavailable" if failed else "ready", failed=failed, checks=checks)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if failed else 200)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
