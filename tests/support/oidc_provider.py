"""A real OpenID provider for the sign-in tests: panva/oidc-provider (OpenID Certified) run by
Node from deploy/local/oidc-provider (`make test` installs it). Its development pages take any
password; the accounts and their role claims are in provider.mjs."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import free_port

HERE = Path(__file__).resolve().parents[2] / "deploy" / "local" / "oidc-provider"
# The provider's role claims → this service's roles (as an Entra deployment would configure).
ROLE_MAP = {
    "FlowCC.Commander": "commander",
    "FlowCC.SiteManager": "site_manager",
    "FlowCC.SocialCare": "social_care",
}


@dataclass(frozen=True)
class OpenIdProvider:
    issuer: str
    client_id: str
    client_secret: str

    def environment(self) -> dict[str, str]:
        """The service's settings for signing in here."""
        return {
            "FLOWCC_OIDC_ISSUER": self.issuer,
            "FLOWCC_OIDC_CLIENT_ID": self.client_id,
            "FLOWCC_OIDC_CLIENT_SECRET": self.client_secret,
            "FLOWCC_OIDC_SCOPES": "openid profile flowcc",
            "FLOWCC_OIDC_DISPLAY_NAME": "Test NHS Identity",
            "FLOWCC_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
        }


@contextmanager
def openid_provider(service_base: str, log: Path) -> Iterator[OpenIdProvider]:
    """A provider whose one client is the service at ``service_base`` (http://host:port)."""
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(f"oidc-provider is not installed in {HERE}: run the suite via make test")
    port = free_port()
    found = OpenIdProvider(f"http://127.0.0.1:{port}", "flowcc-boards", secrets.token_hex(16))
    env = dict(os.environ) | {  # inherited: a shifted clock (faketime) shifts the provider too
        "PORT": str(port),
        "CLIENT_ID": found.client_id,
        "CLIENT_SECRET": found.client_secret,
        "REDIRECT_URI": f"{service_base}/api/v1/auth/oidc/callback",
        "POST_LOGOUT_REDIRECT_URI": f"{service_base}/",
    }
    with log.open("ab") as out:
        node = subprocess.Popen(["node", "provider.mjs"], cwd=HERE, env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait(found, node, log)
        yield found
    finally:
        node.terminate()
        node.wait(timeout=10)


def _wait(provider: OpenIdProvider, node: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if node.poll() is not None:
            raise RuntimeError(f"oidc-provider exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            found = httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2)
            if found.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"oidc-provider not ready in 30 s: {log.read_text(errors='replace')[-2000:]}"
    )
