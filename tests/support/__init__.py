"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

import socket
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bearer(client: Any, user: str) -> dict[str, str]:
    """The Authorization header of a development user (an httpx AsyncClient on the app)."""
    login = await client.post("/api/v1/auth/dev-login", json={"username": user})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}
