"""The service in-process on an offset clock (its own time, which the tests date data from)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app: FastAPI = create_app(settings.model_copy(update={"clock": "offset"}))
    async with app.router.lifespan_context(app):
        await app.state.flow.ready.wait()
        yield app
