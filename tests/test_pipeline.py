"""app finds its consumers through their entry point, never by importing them (issue #19)."""

from __future__ import annotations

import pytest

from app import pipeline
from app.errors import ConfigurationError
from consumers.supervisor import supervise


def test_the_installed_project_registers_the_one_supervisor() -> None:
    assert pipeline.consumer_supervisor() is supervise


def test_without_the_registration_the_service_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "entry_points", lambda **_: [])
    with pytest.raises(ConfigurationError, match="no consumers registered"):
        pipeline.consumer_supervisor()
