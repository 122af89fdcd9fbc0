"""Rate limiting of sign-in and public endpoints: a small in-process sliding window.

Endpoints that need no bearer token (sign-in, certificate and ranking verification, public
pages' JSON) are the ones anybody can hammer, so each client address may call each *path
group* at most `ctx.options["rate_limit_per_minute"]` times in any 60 seconds.  Sign-in
paths form one group (guessing passwords is the attack); every other public path is the
group "public".  Endpoints behind a token are not limited here (a token is accountable), and
neither is `/health` (monitoring must never be refused).  A refused request gets
`429 {"code": "rate_limited", "message", "field"}` with `Retry-After` in seconds.

The window lives in this process: with several server processes each one counts on its own,
which bounds an attacker at N × the limit — put a proxy limit in front for more.  The
per-volunteer lockout after failed sign-ins is separate and lives in the domain.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict, deque
from typing import Callable

from fastapi.routing import APIRoute
from starlette.routing import compile_path

SIGN_IN_WORDS = re.compile(r"sign-?in|login|log-in|session|password|otp|verification-code", re.I)
UNLIMITED_PATHS = frozenset({"/health"})
WINDOW_SECONDS = 60.0
MAX_TRACKED_KEYS = 50_000  # bounds memory however many addresses call
DEFAULT_LIMIT = 120


class SlidingWindow:
    """Counts hits per key over the last `window` seconds; refuses past `limit`."""

    def __init__(self, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_TRACKED_KEYS):
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._hits: OrderedDict[tuple, deque] = OrderedDict()

    def hit(self, key: tuple, limit: int) -> float:
        """Count one hit; returns 0 when allowed, else the seconds until one is allowed."""
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            self._evict()
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= limit:
            return max(hits[0] + self.window - now, 0.001)
        hits.append(now)
        return 0.0

    def _evict(self) -> None:
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)  # the key used least recently

    def __len__(self) -> int:
        return len(self._hits)


def _needs_token(dependant) -> bool:
    from api.deps import bearer_token, current_user

    stack = [dependant]
    while stack:
        node = stack.pop()
        if node.call in (current_user, bearer_token) or getattr(node.call, "identifies_caller", False):
            return True
        stack.extend(node.dependencies)
    return False


def iter_api_routes(routes, prefix: str = ""):
    """Every APIRoute under `routes` as (full path, route), through included routers.

    FastAPI ≥ 0.13x keeps an included router as one entry of `app.routes` (its routes are
    not copied up), so the routes are walked down to the APIRoutes themselves.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
            continue
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from iter_api_routes(inner.routes, prefix + (getattr(context, "prefix", "") or ""))


def public_routes(app) -> list[tuple[re.Pattern, set[str], str]]:
    """(path regex, methods, group) of every API route that needs no bearer token."""
    found = []
    for path, route in iter_api_routes(app.routes):
        if path in UNLIMITED_PATHS or _needs_token(route.dependant):
            continue
        group = "sign_in" if SIGN_IN_WORDS.search(path) else "public"
        found.append((compile_path(path)[0], set(route.methods or ()), group))
    return found


class RateLimit:
    """ASGI middleware: sliding-window limit per (client address, path group)."""

    def __init__(self, app, window: SlidingWindow | None = None):
        self.app = app
        self.window = window or SlidingWindow()
        self._routes: list | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        group = self._group(scope)
        if group is not None:
            limit = self._limit(scope)
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.window.hit((client, group), limit)
            if wait:
                await _refuse(send, wait, limit)
                return
        await self.app(scope, receive, send)

    def _group(self, scope) -> str | None:
        if self._routes is None:  # the routes are complete once the app serves
            self._routes = public_routes(scope["app"])
        path, method = scope["path"], scope["method"]
        for regex, methods, group in self._routes:
            if method in methods and regex.match(path):
                return group
        return None

    @staticmethod
    def _limit(scope) -> int:
        ctx = getattr(scope["app"].state, "ctx", None)
        options = getattr(ctx, "options", None) or {}
        return max(int(options.get("rate_limit_per_minute") or DEFAULT_LIMIT), 1)


async def _refuse(send, wait: float, limit: int) -> None:
    retry_after = str(max(math.ceil(wait), 1))
    body = json.dumps({"code": "rate_limited", "field": None,
                       "message": f"请求过于频繁（每个地址每分钟最多 {limit} 次），请 {retry_after} 秒后再试"}).encode("utf-8")
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", retry_after.encode())]})
    await send({"type": "http.response.body", "body": body})


class TrustedProxies:
    """ASGI middleware: the client address is the peer's, unless the peer is a proxy named in the
    settings (`LEDGER_TRUSTED_PROXIES`); then it is the last address in `X-Forwarded-For` that
    is not itself a trusted proxy.  Nothing else (not even loopback) is believed: the server runs
    with uvicorn's own proxy headers off (`api.app.SERVER_OPTIONS`)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            trusted = _trusted(scope)
            if trusted and scope["client"][0] in trusted:
                forwarded = _forwarded_client(scope, trusted)
                if forwarded:
                    scope = {**scope, "client": (forwarded, 0)}
        await self.app(scope, receive, send)


def _trusted(scope) -> frozenset[str]:
    ctx = getattr(scope["app"].state, "ctx", None)
    text = str((getattr(ctx, "options", None) or {}).get("trusted_proxies") or "")
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _forwarded_client(scope, trusted: frozenset[str]) -> str | None:
    values = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    hops = [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return None


def install(app) -> None:
    """Put the rate limit in front of the app, and the proxy check in front of it (called once by `create_app`)."""
    app.add_middleware(RateLimit)
    app.add_middleware(TrustedProxies)
