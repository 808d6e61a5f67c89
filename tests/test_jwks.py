"""Tokens from an identity provider's JWKS (FLOWCC_JWKS_URL): verified with its published keys,
fetched off the event loop, and a flood of made-up key ids costs the provider at most one
request per refresh floor (issue #16)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth import tokens
from app.auth.apikeys import authenticate
from app.config import AuthSettings
from app.errors import Unauthorized


class Provider:
    """A JWKS endpoint with one RSA key (kid k1), counting fetches; ``delay`` slows each."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [public | {"kid": "k1", "use": "sig", "alg": "RS256"}]})
        self.fetches = 0
        self.delay = 0.0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                time.sleep(provider.delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": "https://idp.example", "aud": "flowcc", "sub": "u1", "iat": now,
                "exp": now + 600, "role": "commander", "name": "Ops"} | claims  # fmt: skip
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[Provider]:
    tokens._jwks_client.cache_clear()
    running = Provider()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()
    tokens._jwks_client.cache_clear()


def _settings(provider: Provider) -> AuthSettings:
    return AuthSettings(FLOWCC_JWKS_URL=provider.url, FLOWCC_JWT_ISSUER="https://idp.example")


async def test_a_provider_token_is_verified_and_unknown_key_ids_are_rate_limited(
    provider: Provider,
) -> None:
    auth = _settings(provider)
    principal = await authenticate(provider.token(), auth, None)  # type: ignore[arg-type]
    assert (principal.subject, principal.role) == ("u1", "commander")
    assert provider.fetches == 1
    for n in range(20):
        with pytest.raises(Unauthorized, match="does not publish"):
            await authenticate(provider.token(kid=f"made-up-{n}"), auth, None)  # type: ignore[arg-type]
    assert provider.fetches == 2  # one refresh for the first unknown id, then the floor holds
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"sub": "x"}, other, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized):
        await authenticate(forged, auth, None)  # type: ignore[arg-type]


async def test_fetching_the_keys_does_not_stop_the_event_loop(provider: Provider) -> None:
    """While the provider takes half a second to answer, the loop keeps serving others."""
    provider.delay = 0.5
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    running = asyncio.create_task(ticker())
    await authenticate(provider.token(), _settings(provider), None)  # type: ignore[arg-type]
    running.cancel()
    assert ticks > 0
