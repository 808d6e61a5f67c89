"""OPEL arithmetic against the default profile (domain.md §1.6 placeholder table)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.errors import ConfigurationError
from app.escalation.profile import OpelProfile, load_profile
from app.escalation.scoring import LevelState, assess, roll_up, step
from tests.support.clock import T0


@pytest.fixture(scope="module")
def profile() -> OpelProfile:
    return load_profile("deploy/escalation/opel-default.yaml")


@pytest.mark.parametrize(
    ("parameter", "value", "level"),
    [
        ("mean_handover_minutes", 15, 1),
        ("mean_handover_minutes", 15.01, 2),
        ("mean_handover_minutes", 30, 2),
        ("mean_handover_minutes", 30.01, 3),
        ("mean_handover_minutes", 60, 3),
        ("mean_handover_minutes", 60.5, 4),
        ("four_hour_pct", 78, 1),
        ("four_hour_pct", 77.9, 2),
        ("four_hour_pct", 70, 2),
        ("four_hour_pct", 69.9, 3),
        ("four_hour_pct", 60, 3),
        ("four_hour_pct", 59.9, 4),
        ("ga_occupancy_pct", 91.9, 1),
        ("ga_occupancy_pct", 92, 2),
        ("ga_occupancy_pct", 95, 3),
        ("ga_occupancy_pct", 98, 4),
        ("escalation_beds_pct", 0, 1),
        ("escalation_beds_pct", 0.1, 2),
        ("escalation_beds_pct", 2, 3),
        ("escalation_beds_pct", 5, 4),
        ("nctr_pct", 9.99, 1),
        ("nctr_pct", 10, 2),
        ("over_12h_pct", 10, 4),
    ],
)
def test_parameter_levels_at_the_table_boundaries(
    profile: OpelProfile, parameter: str, value: float, level: int
) -> None:
    by_id = {p.id: p for p in profile.parameters}
    assert by_id[parameter].level(value) == level


def _metrics(**values: float) -> dict[str, float]:
    paths = {
        "mean_handover_minutes": ("ambulance", "handover_mean_minutes"),
        "four_hour_pct": ("ed", "four_hour_pct"),
        "ga_occupancy_pct": ("beds", "occupancy_pct"),
        "nctr_pct": ("discharges", "nctr_pct"),
    }
    return {".".join(paths[name]): value for name, value in values.items()}


def test_score_and_band(profile: OpelProfile) -> None:
    calm = assess(profile, _metrics(mean_handover_minutes=10, four_hour_pct=90))
    assert (calm.score, calm.level, calm.drivers) == (0.0, 1, [])
    worst = assess(profile, _metrics(mean_handover_minutes=90, four_hour_pct=50))
    assert (worst.score, worst.level) == (100.0, 4)
    # Levels 4 and 2 of two equal weights: (4 + 2 - 2) / 6 * 100 = 66.67 → OPEL 3.
    mixed = assess(profile, _metrics(mean_handover_minutes=61, four_hour_pct=75))
    assert (mixed.score, mixed.level, mixed.drivers) == (66.67, 3, ["mean_handover_minutes"])
    # Parameters without data are left out, not scored as level 1.
    assert [r.level for r in mixed.readings].count(None) == len(profile.parameters) - 2
    assert assess(profile, {}).level is None


def test_hysteresis_rises_at_once_and_drops_after_the_hold(profile: OpelProfile) -> None:
    state = step(profile, LevelState(), 1, T0).state
    rose = step(profile, state, 3, T0 + timedelta(minutes=1))
    assert (rose.changed, rose.state.level) == (True, 3)
    held = step(profile, rose.state, 2, T0 + timedelta(minutes=2))
    assert (held.changed, held.state.level, held.state.below_since) == (
        False,
        3,
        T0 + timedelta(minutes=2),
    )
    # Back in the band before the hold ends: the clock restarts.
    back = step(profile, held.state, 3, T0 + timedelta(minutes=30))
    assert back.state.below_since is None
    again = step(profile, back.state, 2, T0 + timedelta(minutes=40))
    early = step(profile, again.state, 2, T0 + timedelta(minutes=99))
    assert (early.changed, early.state.level) == (False, 3)
    dropped = step(profile, early.state, 2, T0 + timedelta(minutes=100))
    assert (dropped.changed, dropped.state.level, dropped.previous) == (True, 2, 3)


def test_the_system_roll_up_weights_site_scores(profile: OpelProfile) -> None:
    system = roll_up(profile, [("A", 0.0, 0.5), ("B", 50.0, 0.3), ("C", 100.0, 0.2)])
    assert (system.score, system.level) == (35.0, 2)  # 0 + 15 + 20
    assert [r.level for r in system.readings] == [1, 3, 4]
    # A site without a score yet does not count as a calm one.
    partial = roll_up(profile, [("A", None, 0.5), ("B", 50.0, 0.3)])
    assert (partial.score, partial.level) == (50.0, 3)


def test_a_profile_whose_levels_do_not_get_stricter_is_refused(tmp_path: Path) -> None:
    text = Path("deploy/escalation/opel-default.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace('[">15", ">30", ">60"]', '[">30", ">15", ">60"]'))
    with pytest.raises(ConfigurationError, match="stricter"):
        load_profile(bad)
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(text.replace('[">15", ">30", ">60"]', '[">15", "<30", ">60"]'))
    with pytest.raises(ConfigurationError, match="same way"):
        load_profile(mixed)
