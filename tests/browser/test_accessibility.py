"""Accessibility in real Chromium: axe-core's WCAG 2.1 A/AA rules (contrast included) report no
violation on the sign-in page or any board, and the boards work from the keyboard alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from tests.support.browser import sign_in
from tests.support.seeds import seed_waiting_patient
from tests.support.services import live_server

AXE = Path("frontend/node_modules/axe-core/axe.min.js")
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def _violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"][:5]]}
        for v in result["violations"]
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("user", "view"),
    [
        (None, None),
        ("sm.anyborough", "site:RAN01"),
        ("commander", "system"),
        ("sc.anyborough", "discharges:E06000901"),
    ],
)
async def test_no_wcag_aa_violation(
    browser: Browser,
    settings: Settings,
    clean_db: AsyncEngine,
    user: str | None,
    view: str | None,
) -> None:
    await seed_waiting_patient(clean_db)
    async with live_server(settings) as base:
        page = await browser.new_page(bypass_csp=True)  # axe is injected inline
        if user is None:
            await page.goto(f"http://{base}/")
            await expect(page.locator("[data-user]").first).to_be_visible()
        else:
            await sign_in(page, base, user)
            await expect(page.locator(f'main[data-view="{view}"] .board')).to_be_visible()
        assert await _violations(page) == []
        await page.close()


async def test_sign_in_and_switch_boards_from_the_keyboard(
    browser: Browser,
    settings: Settings,
) -> None:
    async with live_server(settings) as base:
        page = await browser.new_page()
        await page.goto(f"http://{base}/")
        await expect(page.locator("[data-user]").first).to_be_visible()
        for _ in range(20):  # Tab to the commander's sign-in button, then Enter
            await page.keyboard.press("Tab")
            focused = await page.evaluate("document.activeElement?.dataset?.user ?? ''")
            if focused == "commander":
                break
        assert focused == "commander"
        await page.keyboard.press("Enter")
        await expect(page.locator('main[data-view="system"] .board')).to_be_visible()
        for _ in range(30):  # Tab to RAN01 in the sites table; its focus is visible
            await page.keyboard.press("Tab")
            text = await page.evaluate("document.activeElement?.textContent ?? ''")
            if text == "Anyborough General Hospital":
                break
        assert text == "Anyborough General Hospital"
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")
        await page.keyboard.press("Enter")
        await expect(page.locator('main[data-view="site:RAN01"] .board')).to_be_visible()
        await page.close()
