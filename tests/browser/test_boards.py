"""The boards in real Chromium (Debian's /usr/bin/chromium driven by Playwright), against a real
uvicorn, PostgreSQL and Kafka: log in per role, and see a Kafka message change the board."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from kafka import KafkaProducer
from playwright.async_api import Browser, Page, async_playwright, expect

from app.config import Settings
from app.ingest.topics import ADT_HL7V2
from tests.conftest import isolated_kafka, live_server
from tests.factories import hl7

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def sign_in(page: Page, base: str, user: str) -> None:
    await page.goto(f"http://{base}/")
    await page.click(f'[data-user="{user}"]')
    await expect(page.locator(".conn-live")).to_be_visible()


@pytest.mark.parametrize(
    ("user", "landing"),
    [("sm.anyborough", "site:RAN01"), ("commander", "system"), ("sm.westvale", "site:RWV01")],
)
async def test_each_role_lands_on_its_board(
    browser: Browser, settings: Settings, user: str, landing: str
) -> None:
    async with live_server(settings) as base:
        page = await browser.new_page()
        await sign_in(page, base, user)
        await expect(page.locator(f'main[data-view="{landing}"] .board')).to_be_visible()
        await page.close()


async def test_an_admission_on_kafka_turns_the_bed_occupied_on_an_open_board(
    browser: Browser, settings: Settings
) -> None:
    app_settings = isolated_kafka(settings)
    async with live_server(app_settings) as base:
        page = await browser.new_page()
        await sign_in(page, base, "sm.anyborough")
        bed = page.locator('[data-bed="RAN01:AMU:B04"]')
        await expect(bed).to_have_class("bed free")
        free = page.locator('[data-testid="free-RAN01:AMU"]')
        before = int(await free.inner_text())

        producer = KafkaProducer(bootstrap_servers=app_settings.kafka.bootstrap_servers)
        sent = time.monotonic()
        producer.send(
            app_settings.kafka.topic(ADT_HL7V2),
            key=b"VB",
            value=hl7("A01", 0, bed="B04", visit="VB"),
        )
        producer.flush()
        # Latency is measured and reported (bench/ and this print), never asserted; the timeout
        # only bounds a hang.
        await expect(bed).to_have_class("bed occupied", timeout=15_000)
        print(f"produce -> board DOM: {1000 * (time.monotonic() - sent):.0f} ms")
        await expect(free).to_have_text(str(before - 1))
        producer.close()
        await page.close()
