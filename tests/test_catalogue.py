"""The metric catalogue (issue #19): one declaration of every site metric. A profile naming a
metric the catalogue does not have is a startup error (a typo never drops a parameter from the
score silently); the samples API refuses unknown names; everything the engine computes and
samples is in the catalogue."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.catalogue import is_metric, is_sampled, metric_paths
from app.errors import ConfigurationError
from app.escalation.profile import load_profile
from tests.support import bearer

DEFAULT_PROFILE = Path("deploy/escalation/opel-default.yaml")


def test_a_profile_with_an_unknown_metric_does_not_load(tmp_path: Path) -> None:
    profile = yaml.safe_load(DEFAULT_PROFILE.read_text())
    profile["parameters"][1]["metric"] = "ed.four_hour_pcnt"  # a typo of ed.four_hour_pct
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(profile))
    with pytest.raises(ConfigurationError, match=r"unknown metric 'ed\.four_hour_pcnt'"):
        load_profile(path)
    assert len(load_profile(DEFAULT_PROFILE).parameters) == 7  # the shipped one is all known


def test_the_catalogue_has_scorable_numbers_and_breakdowns() -> None:
    assert {"beds.occupancy_pct", "ed.four_hour_pct", "ambulance.handover_mean_minutes",
            "discharges.nctr_pct"} <= metric_paths()  # fmt: skip
    assert is_metric("ambulance.waiting_over.30")  # a breakdown's entry
    assert not is_metric("ed.four_hour_definition")  # text, not a number
    assert not is_metric("beds")


async def test_the_samples_api_refuses_an_unknown_metric_and_serves_a_known_one(
    asgi_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    commander = await bearer(asgi_client, "commander")
    unknown = await asgi_client.get(
        "/api/v1/metric-samples", params={"scope": "RAN01", "metric": "beds.ocupancy_pct"},
        headers=commander,
    )  # fmt: skip
    known = await asgi_client.get(
        "/api/v1/metric-samples", params={"scope": "RAN01", "metric": "beds.occupancy_pct"},
        headers=commander,
    )  # fmt: skip
    assert unknown.status_code == 422
    assert "no metric 'beds.ocupancy_pct'" in unknown.json()["error"]["message"]
    assert known.status_code == 200
    async with engine.connect() as connection:
        sampled = await connection.execute(text("SELECT DISTINCT metric FROM metric_samples"))
        names = [row[0] for row in sampled]
    assert names, "the engine sampled nothing at its first evaluation"
    assert [name for name in names if not is_sampled(name)] == []
