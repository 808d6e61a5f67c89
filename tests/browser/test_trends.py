"""Trends on the site board (issue #18), in real Chromium: sparklines drawn from the metric
samples in PostgreSQL with their data points, the SPC icon of the daily 08:00 series, and the
bed forecast for the next 4, 8 and 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.clock import LONDON, local_midnight
from app.config import Settings
from app.escalation.models import MetricSample
from tests.support.browser import sign_in
from tests.support.services import live_server

pytestmark = pytest.mark.usefixtures("clean_db")
METRIC = "beds.occupancy_pct"


async def _history(
    engine: AsyncEngine, now: datetime, scope: str = "RAN01", metric: str = METRIC
) -> None:
    """The last 24 h every 5 minutes but the hour before 08:00 (and the same a week before),
    and 20 days of 07:55 values of which yesterday's is far above the rest."""
    rows = []
    for week in (timedelta(0), timedelta(days=7)):
        for step in range(1, 24 * 12):
            at = now - week - timedelta(minutes=5 * step)
            if at.astimezone(LONDON).hour == 7:
                continue  # the hour before 08:00 is the daily series' (below), whenever this runs
            rows.append(MetricSample(scope=scope, metric=metric, value=80 + step % 7, at=at))
    today = local_midnight(now)
    for days in range(1, 21):
        day = local_midnight(today - timedelta(days=days, hours=-12)).astimezone(LONDON).date()
        value = 99.0 if days == 1 else 85.0 + days % 3
        at = datetime.combine(day, time(7, 55), tzinfo=LONDON)
        rows.append(MetricSample(scope=scope, metric=metric, value=value, at=at))
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add_all(rows)


async def test_the_site_board_draws_trends_and_spc_icons(
    browser: Browser, settings: Settings, clean_db: AsyncEngine
) -> None:
    await _history(clean_db, datetime.now(UTC))
    async with live_server(settings) as base:
        page = await browser.new_page()
        await sign_in(page, base, "sm.anyborough")
        trend = page.locator(f'[data-testid="trend-{METRIC}"]')
        day = trend.locator("polyline.spark-day")
        await expect(day).to_be_visible()
        assert int(await day.get_attribute("data-points") or 0) >= 23 * 12 - 1  # and live
        await expect(trend.locator("polyline.spark-week")).to_be_visible()
        points = (await day.get_attribute("points") or "").split()
        assert len({p.split(",")[1] for p in points}) > 3, "a line, not a flat mark"
        await expect(trend.locator(".spc")).to_have_attribute("data-variation", "concern_high")
        quiet = page.locator('[data-testid="trend-ed.in_department"]')
        await expect(quiet.locator(".spark-empty, polyline.spark-day")).to_be_visible()
        ahead = page.locator('[data-testid="forecast"] tr[data-hours]')  # the bed forecast
        await expect(ahead).to_have_count(3)
        await expect(page.locator('[data-testid="opel-rise"]')).to_contain_text("OPEL 2 within 4 h")

        # A click opens the full chart: the week's samples and the SPC chart, drawn on canvas.
        await trend.click()
        chart = page.locator('[data-testid="trend-chart"]')
        week, spc = chart.locator(".chart").nth(0), chart.locator(".chart").nth(1)
        await expect(week.locator("canvas")).to_be_visible()
        # The last 24 h (a week ago's fall on the same times, shifted a week) and the live value.
        assert int(await week.get_attribute("data-points") or 0) >= 23 * 12
        await expect(spc.locator("canvas")).to_be_visible()
        assert await spc.get_attribute("data-points") == "20"
        box = await spc.locator("canvas").bounding_box()
        assert box is not None
        assert box["width"] > 300
        await chart.get_by_role("button", name="Close").click()
        await expect(chart).to_have_count(0)
        await page.close()


async def test_the_system_and_social_care_boards_draw_trends(
    browser: Browser, settings: Settings, clean_db: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    await _history(clean_db, now, scope="QAB", metric="beds.occupancy_pct")
    await _history(clean_db, now, scope="E06000901", metric="discharges.nctr")
    async with live_server(settings) as base:
        for user, metric in (("commander", METRIC), ("sc.anyborough", "discharges.nctr")):
            page = await browser.new_page()
            await sign_in(page, base, user)
            trend = page.locator(f'[data-testid="trend-{metric}"]')
            day = trend.locator("polyline.spark-day")
            await expect(day).to_be_visible()
            assert int(await day.get_attribute("data-points") or 0) >= 23 * 12 - 1, user
            await expect(trend.locator(".spc")).to_have_attribute("data-variation", "concern_high")
            await page.close()


async def test_the_system_board_shows_each_acute_sites_beds_ahead(
    browser: Browser, settings: Settings
) -> None:
    async with live_server(settings) as base:
        page = await browser.new_page()
        await sign_in(page, base, "commander")
        for site in ("RAN01", "RWV01", "RNF01"):
            await expect(page.locator(f'[data-testid="ahead-{site}"]')).to_contain_text("≥ ")
            await expect(page.locator(f'[data-testid="opel-rise-{site}"]')).to_contain_text("%")
        await page.close()
