"""Application factory. ``create_app()`` builds nothing that does I/O; the lifespan does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from app.access.oidc import install as install_oidc
from app.access.oidc import router as oidc_router
from app.access.routes import keys_router
from app.access.routes import router as auth_router
from app.analytics.forecast_routes import router as forecast_router
from app.analytics.routes import router as analytics_router
from app.audit.routes import router as audit_router
from app.auth.deps import CurrentUser
from app.auth.schemas import Role
from app.board.hub import BoardHub
from app.board.protocol import install_schema as install_board_schema
from app.board.rest import router as board_rest_router
from app.board.routes import router as board_router
from app.board.snapshots import SnapshotBuilds, reader
from app.carehomes.routes import router as carehomes_router
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker
from app.deps import Resources
from app.discharge.routes import router as discharge_router
from app.errors import ERROR_RESPONSES, Forbidden
from app.escalation.routes import router as escalation_router
from app.feeds.routes import router as feeds_router
from app.flow.routes import router as flow_router
from app.handlers import install_error_handlers
from app.health.routes import router as health_router
from app.heap import settle as settle_heap
from app.ingest.routes import router as ingest_router
from app.ingest.status import ConsumerStatus
from app.kafka import KafkaGateway
from app.limits import BodyLimit
from app.logging import configure_logging, get_logger
from app.metrics import RequestMetricsMiddleware
from app.occupancy.routes import router as occupancy_router
from app.retention.service import purge_on_schedule
from app.startup import (
    background_consumers,
    build_evaluator,
    committed,
    load_configured_economy,
    run_evaluator,
    start_fanout,
    stop_evaluator,
    watch_economy,
)
from app.topology.routes import router as topology_router
from app.web_security import SecurityHeaders
from app.webhooks.routes import router as webhooks_router
from app.webhooks.service import run_dispatcher

log = get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        engine = create_engine(settings.db)
        kafka = KafkaGateway(settings.kafka)
        resources = Resources(settings, engine, create_sessionmaker(engine), kafka)
        app.state.resources = resources
        app.state.hub = hub = BoardHub(
            tick_seconds=settings.board_tick_seconds,
            writes_per_second=settings.board_writes_per_second,
        )
        economy = await load_configured_economy(resources)
        app.state.flow = flow = build_evaluator(resources, hub, economy)
        app.state.snapshots = SnapshotBuilds(reader(resources.sessionmaker, flow), hub.sequence)
        # Start-up's objects out of the collector's scans (ADR 0010): before any thread starts,
        # as the collection holds the GIL (~0.1 s) and a Kafka client joining its group then
        # can miss its join (kafka-python 3.0.12; the stall watchdog took 10 s to recover).
        settle_heap()
        fanout = await start_fanout(settings, flow, hub)
        evaluator_task = run_evaluator(flow)
        watcher = watch_economy(resources, hub, flow)
        heartbeat = asyncio.create_task(hub.heartbeat_forever(), name="board-heartbeat")
        webhooks = asyncio.create_task(
            run_dispatcher(resources.sessionmaker, settings.webhook_allow), name="webhooks"
        )
        retention = asyncio.create_task(
            purge_on_schedule(
                resources.sessionmaker, settings.retention, flow.clock, lambda: fanout.leader
            ),
            name="retention",
        )
        app.state.consumer_status = status = ConsumerStatus()
        consumers = (
            background_consumers(resources, committed(hub, flow, fanout), status)
            if settings.run_consumers
            else None
        )
        log.info("started", environment=settings.environment)
        try:
            yield
        finally:
            for task in (watcher, heartbeat, webhooks, retention):
                task.cancel()
            await asyncio.gather(watcher, heartbeat, webhooks, retention, return_exceptions=True)
            if consumers is not None:
                consumers.cancel()
                await asyncio.gather(consumers, return_exceptions=True)
            await stop_evaluator(flow, evaluator_task)
            await fanout.close()
            await kafka.close()
            await engine.dispose()
            log.info("stopped")

    app = FastAPI(
        title="Flow Command Centre",
        version="0.1.0",
        description="Live beds, ED, ambulance handovers, discharges, care homes and OPEL "
        "for a whole health and social care economy.",
        lifespan=lifespan,
        # Interactive docs and the public schema in development only; integrations read the
        # schema with their credentials (GET /api/v1/openapi.json) in every environment.
        docs_url="/docs" if settings.development else None,
        redoc_url="/redoc" if settings.development else None,
        openapi_url="/openapi.json" if settings.development else None,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(BodyLimit, ingest_limit=settings.ingest_max_bytes)
    install_error_handlers(app)
    install_oidc(app, settings)
    app.include_router(health_router)
    app.include_router(auth_router, responses=ERROR_RESPONSES)
    app.include_router(oidc_router, responses=ERROR_RESPONSES)
    app.include_router(keys_router, responses=ERROR_RESPONSES)
    app.include_router(topology_router, responses=ERROR_RESPONSES)
    app.include_router(board_rest_router, responses=ERROR_RESPONSES)
    app.include_router(ingest_router, responses=ERROR_RESPONSES)
    app.include_router(occupancy_router, responses=ERROR_RESPONSES)
    app.include_router(feeds_router, responses=ERROR_RESPONSES)
    app.include_router(flow_router, responses=ERROR_RESPONSES)
    app.include_router(escalation_router, responses=ERROR_RESPONSES)
    app.include_router(discharge_router, responses=ERROR_RESPONSES)
    app.include_router(carehomes_router, responses=ERROR_RESPONSES)
    app.include_router(audit_router, responses=ERROR_RESPONSES)
    app.include_router(analytics_router, responses=ERROR_RESPONSES)
    app.include_router(forecast_router, responses=ERROR_RESPONSES)
    app.include_router(webhooks_router, responses=ERROR_RESPONSES)
    app.include_router(board_router)
    install_board_schema(app)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    async def openapi_schema(user: CurrentUser) -> JSONResponse:
        if user.role not in (Role.ADMIN, Role.INTEGRATION_READ, Role.INTEGRATION_INGEST):
            raise Forbidden("the API schema is for integrations and admins")
        return JSONResponse(app.openapi())

    # The built boards; mounted last so every API route wins. check_dir=False: no I/O here.
    app.mount(
        "/",
        StaticFiles(directory=Path(settings.frontend_dist), html=True, check_dir=False),
        name="board",
    )
    return app
