"""The committed OpenAPI schema (the source of the frontend's generated API types) is the
service's current one."""

from __future__ import annotations

from pathlib import Path

from app.cli import board_schema_json, openapi_json
from app.config import Settings
from app.main import create_app


def test_docs_openapi_json_is_current(settings: Settings) -> None:
    committed = Path("docs/openapi.json").read_text()
    assert committed == openapi_json(create_app(settings)), (
        "docs/openapi.json is stale: run `.venv/bin/flowcc openapi` and commit it with "
        "the regenerated frontend/src/openapi.ts (npm run gen:api, also run by the build)"
    )


def test_docs_board_protocol_schema_is_current() -> None:
    committed = Path("docs/board-protocol.schema.json").read_text()
    assert committed == board_schema_json(), (
        "docs/board-protocol.schema.json is stale: run `.venv/bin/flowcc openapi` and commit it"
    )


def test_the_openapi_document_publishes_the_board_frames(settings: Settings) -> None:
    schemas = create_app(settings).openapi()["components"]["schemas"]
    frames = {ref["$ref"].rsplit("/", 1)[1] for ref in schemas["BoardFrame"]["oneOf"]}
    assert frames == {"ReadyFrame", "SnapshotFrame", "DeltaFrame", "ResyncFrame", "PingFrame",
                      "PongFrame", "ErrorFrame"}  # fmt: skip
    assert {"MetricsChange", "SiteView", "SystemView", "SiteSummary"} <= set(schemas)
