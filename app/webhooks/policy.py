"""Where a webhook may call (issue #16): not into our own network.

A webhook URL is chosen by whoever registers it and called by the service from inside the
deployment: without a policy it reaches the cloud metadata service (169.254.169.254), the
database, Kafka, the service itself. The rule: ``https`` only, and every address the host
resolves to is a public (globally routable) one — checked when the webhook is registered and
again before every delivery (DNS may change). A receiver inside the network (an ICS's own
on-premises endpoint, a test receiver) is named in ``FLOWCC_WEBHOOK_ALLOW``: host names or
networks (``10.20.0.0/16``), which may then also be plain ``http``.

Left: a name that resolves to a public address at the check and to a private one at the
connection (DNS rebinding within seconds) is not pinned; the total timeout bounds it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """The URL may not be called; the message says why."""


def _allowlisted(host: str, addresses: Sequence[Address], allow: Sequence[str]) -> bool:
    for entry in allow:
        if entry.lower() == host.lower():
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(address in network for address in addresses):
            return True
    return False


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UrlRefused(f"{host} does not resolve: {error}") from error
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found}, key=str)


async def check_url(url: str, allow: Sequence[str]) -> None:
    """Raise UrlRefused unless the URL may be called under the policy."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UrlRefused("a webhook URL is an http(s) URL with a host")
    if parsed.userinfo:
        raise UrlRefused("a webhook URL carries no credentials (the signature authenticates)")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await _resolve(parsed.host, port)
    if _allowlisted(parsed.host, addresses, allow):
        return
    if parsed.scheme != "https":
        raise UrlRefused(
            "webhooks are sent over https only (or name the host in FLOWCC_WEBHOOK_ALLOW)"
        )
    for address in addresses:
        if not address.is_global:
            raise UrlRefused(
                f"{parsed.host} is {address}, not a public address (a receiver inside the "
                "network is named in FLOWCC_WEBHOOK_ALLOW)"
            )
