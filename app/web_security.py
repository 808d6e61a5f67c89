"""Security headers on every HTTP response (pure ASGI, issue #16).

The boards are a same-origin single-page app: scripts, styles and the websocket come from
here, nothing is framed, nothing is inline. Every API response is about patients or the people
who care for them: ``Cache-Control: no-store`` so no shared cache or browser history keeps one.
HSTS only over HTTPS (behind a TLS-terminating proxy run uvicorn with ``--proxy-headers`` so
the scheme is known). The interactive API docs (development only) load Swagger UI from a CDN:
they get no CSP, every other page does.
"""

from __future__ import annotations

from app.limits import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
DOCS = ("/docs", "/redoc")
HSTS = b"max-age=31536000; includeSubDomains"


def headers_for(path: str, scheme: str) -> list[tuple[bytes, bytes]]:
    headers = list(ALWAYS)
    if not path.startswith(DOCS):
        headers.append((b"content-security-policy", CSP.encode()))
    if path.startswith("/api/") or path in ("/readyz", "/metrics"):
        headers.append((b"cache-control", b"no-store"))
    if scheme == "https":
        headers.append((b"strict-transport-security", HSTS))
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"], scope.get("scheme", "http"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in extra if name not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
