"""The committed OpenAPI schema (the source of the frontend's generated API types) is the
service's current one."""

from __future__ import annotations

from pathlib import Path

from app.cli import openapi_json
from app.config import Settings
from app.main import create_app


def test_docs_openapi_json_is_current(settings: Settings) -> None:
    committed = Path("docs/openapi.json").read_text()
    assert committed == openapi_json(create_app(settings)), (
        "docs/openapi.json is stale: run `.venv/bin/flowcc openapi` and commit it with "
        "the regenerated frontend/src/openapi.ts (npm run gen:api, also run by the build)"
    )
