"""Chromium as the boards' users meet them: Debian's /usr/bin/chromium driven by Playwright."""

from __future__ import annotations

from playwright.async_api import Page, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def sign_in(page: Page, base: str, user: str) -> None:
    await page.goto(f"http://{base}/")
    await page.click(f'[data-user="{user}"]')
    await expect(page.locator(".conn-live")).to_be_visible()
