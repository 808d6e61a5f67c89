"""`make eval` still works (tiny sizes here; its figures: `make eval`, into docs/analytics.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench import forecast_eval


def test_the_forecast_backtest_runs_and_writes_its_table(tmp_path: Path) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    past = forecast_eval.simulate("RAN01", weeks=3, seed=1, end=end)
    assert len(past) > 3 * 7 * 200  # a 650-bed site sees ~325 attendances a day
    assert any(a.admitted is not None and a.decided is not None for a in past)
    results = forecast_eval.backtest(past, history_weeks=2, every_hours=24)
    assert results["origins"] >= 5
    for scores in results["windows"].values():
        assert scores["mae"] >= 0
        assert scores["baseline_mae"] >= 0
        assert sum(scores["pit_deciles"]) == results["origins"]
    doc = tmp_path / "analytics.md"
    doc.write_text("# A\n\n<!-- backtest:begin -->\nold\n<!-- backtest:end -->\n\ntail\n")
    forecast_eval.write(doc, forecast_eval.render(results, site="RAN01", weeks=3, seed=1))
    text = doc.read_text()
    assert "old" not in text
    assert "| 24 h |" in text
    assert text.endswith("tail\n")
