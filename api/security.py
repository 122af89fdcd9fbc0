"""Security headers on every answer: a Content-Security-Policy that forbids inline script.

Pages load their script and style from /static only (script-src 'self'); they build their
content with text nodes, never markup from strings, so a hostile name is shown as text even
if a page forgot to escape it, and a script injected into a page would not run.  The OpenAPI
pages (/docs, /redoc) are the framework's own, load from a CDN and are for developers: they
keep a policy of their own.
"""
from __future__ import annotations

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")
HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY"))


class SecurityHeaders:
    """ASGI middleware: adds the policy and the other headers unless the answer set its own."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_CSP if scope["path"] in DOCS_PATHS else CSP).encode()

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(b"content-security-policy", policy)] + list(HEADERS)
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app) -> None:
    """Put the headers on every answer (called once by `create_app`)."""
    app.add_middleware(SecurityHeaders)
