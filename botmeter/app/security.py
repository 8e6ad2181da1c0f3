"""Headers, host and form checks that keep other web pages from using the app.

The app usually runs without a login on 127.0.0.1 (an operator's own machine), so a page
on another site must not be able to read it (DNS rebinding: the Host check) or post to it
(a KPI edit: the form's token and the Origin check).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

# Plotly sets inline styles on the elements it draws; scripts come only from the app.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


def allowed_hosts(host: str) -> list[str]:
    """Host headers to answer: the loopback names, or any when bound to every interface."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return sorted({*LOOPBACK_NAMES, host})


class SecurityHeadersMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name for name, _ in headers}
                headers += [h for h in HEADERS if h[0] not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class FormGuard:
    """A per-process secret signs each reader's form token (double submit without state)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def token(self, tenant: str | None) -> str:
        subject = ("account:" + tenant) if tenant else "operator"
        return hmac.new(self._secret, subject.encode(), hashlib.sha256).hexdigest()

    def check(self, request: Request, tenant: str | None, submitted: str | None) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != "null":
            expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
            if origin != expected:
                return False
        return bool(submitted) and hmac.compare_digest(self.token(tenant), submitted)
