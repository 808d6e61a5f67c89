"""Signing in to the boards through a real OpenID provider (issue #16): Chromium follows the
authorization code flow with PKCE to panva/oidc-provider's own login and consent pages and back;
the claims map to a role; signing out signs out at the provider too; an account without a role
is refused with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.audit.models import AuditEntry
from app.config import Settings
from tests.support import free_port
from tests.support.oidc_provider import OpenIdProvider, openid_provider
from tests.support.services import live_server

pytestmark = pytest.mark.usefixtures("clean_db")
TTL_SECONDS = 900


@pytest.fixture
def provider_and_port(tmp_path: Path) -> Iterator[tuple[OpenIdProvider, int]]:
    port = free_port()  # the provider must know the service's callback before it starts
    with openid_provider(f"http://127.0.0.1:{port}", tmp_path / "oidc.log") as provider:
        yield provider, port


@asynccontextmanager
async def service(settings: Settings, provider: OpenIdProvider, port: int) -> AsyncIterator[str]:
    extra = provider.environment() | {"FLOWCC_TOKEN_TTL": str(TTL_SECONDS)}
    async with live_server(settings, port=port, extra_env=extra) as host:
        yield f"http://{host}"


async def sign_in(browser: Browser, base: str, provider: OpenIdProvider, login: str) -> Page:
    """From the boards' sign-in page to the provider's (not ours) and back, as ``login``."""
    page = await browser.new_page()
    await page.goto(f"{base}/")
    await page.click('[data-sign-in="oidc"]')
    assert page.url.startswith(provider.issuer)
    await at_the_provider(page, login)
    return page


async def at_the_provider(page: Page, login: str) -> None:
    """oidc-provider's development pages: sign in (any password), then consent."""
    await page.fill('input[name="login"]', login)
    await page.fill('input[name="password"]', "any password")
    await page.click('button[type="submit"]')
    await page.click('button:has-text("Continue")')


async def test_a_commander_signs_in_at_the_provider_and_out_again(
    browser: Browser,
    settings: Settings,
    clean_db: AsyncEngine,
    provider_and_port: tuple[OpenIdProvider, int],
) -> None:
    provider, port = provider_and_port
    async with service(settings, provider, port) as base:
        page = await sign_in(browser, base, provider, "commander")
        await expect(page.locator(".conn-live")).to_be_visible()  # the board's websocket
        await expect(page.locator('main[data-view="system"] .board')).to_be_visible()
        await expect(page.locator(".topbar")).to_contain_text("Casey Commander")
        assert "token" not in page.url
        assert "code=" not in page.url
        token = await page.evaluate("JSON.parse(sessionStorage.getItem('flowcc.session')).token")
        async with httpx.AsyncClient(base_url=base) as client:
            me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "commander"
        assert me.json()["subject"] == "oidc:commander"
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == TTL_SECONDS  # the websocket ends it then

        await page.click("text=Sign out")
        assert page.url.startswith(provider.issuer)  # signing out at the provider too
        await page.click('button:has-text("Yes, sign me out")')
        await expect(page.locator('[data-sign-in="oidc"]')).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('flowcc.session')") is None
        await page.close()
    async with async_sessionmaker(clean_db)() as session:
        signed_in = (await session.scalars(select(AuditEntry.actor).where(
            AuditEntry.action == "auth.sign_in"))).all()  # fmt: skip
    assert signed_in == ["oidc:commander"]


async def test_an_account_without_a_role_is_refused_with_the_reason(
    browser: Browser, settings: Settings, provider_and_port: tuple[OpenIdProvider, int]
) -> None:
    provider, port = provider_and_port
    async with service(settings, provider, port) as base:
        page = await sign_in(browser, base, provider, "visitor")
        await expect(page.locator('[role="alert"]')).to_contain_text(
            "your account has no Flow Command Centre role"
        )
        assert await page.evaluate("sessionStorage.getItem('flowcc.session')") is None
        await page.close()
