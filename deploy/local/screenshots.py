"""Save a screenshot of each board (desktop, tablet, wall) to docs/screenshots/.

Run against a live service (``make run`` in another terminal, or FLOWCC_URL):
    .venv/bin/python deploy/local/screenshots.py [--url http://127.0.0.1:8000]
Uses Debian's Chromium through Playwright, as the browser tests do.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from playwright.async_api import Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAYOUTS = {"desktop": (1440, 1000), "tablet": (820, 1180), "wall": (1920, 1080)}
# name, user, board (#hash), and what to click first (a trend opens its full chart)
BOARDS = [
    ("site", "sm.anyborough", "", ""),
    ("system", "commander", "", ""),
    ("discharges", "sc.anyborough", "", ""),
    ("site-chart", "sm.anyborough", "", '[data-testid="trend-beds.occupancy_pct"]'),
]


async def shoot(page: Page, url: str, user: str, hash_: str, click: str, wall: bool) -> None:
    await page.goto(f"{url}/")
    await page.evaluate("sessionStorage.clear()")
    await page.goto(f"{url}/{'?wall=1' if wall else ''}")
    await page.click(f'[data-user="{user}"]')
    await page.wait_for_selector(".conn-live")
    await page.wait_for_selector("main .board")
    if hash_:
        await page.evaluate(f"location.hash = '{hash_}'")
    await page.wait_for_timeout(1500)
    if click:
        await page.click(click)
        await page.wait_for_selector('[data-testid="trend-chart"] canvas')
        await page.locator('[data-testid="trend-chart"]').scroll_into_view_if_needed()
        await page.wait_for_timeout(500)


async def main(url: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for layout, (width, height) in LAYOUTS.items():
            for name, user, hash_, click in BOARDS:
                if click and layout == "wall":
                    continue  # a wall screen is not clicked
                page = await browser.new_page(viewport={"width": width, "height": height})
                await shoot(page, url, user, hash_, click, wall=layout == "wall")
                path = OUT / f"{name}-{layout}.png"
                await page.screenshot(path=str(path), full_page=layout != "wall")
                print(f"saved {path.relative_to(OUT.parents[1])}")
                await page.close()
        await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    asyncio.run(main(parser.parse_args().url.rstrip("/")))
