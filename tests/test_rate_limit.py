"""Sign-in and public endpoints are rate-limited per client address and path group.

The limiter (api/middleware.py) counts hits in a sliding 60-second window; past
`rate_limit_per_minute` it answers 429 with Retry-After and {"code", "message", "field"}.
Endpoints behind a bearer token and /health are not limited.
"""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.routing import compile_path

from api.app import create_app
from api.middleware import RateLimit, SlidingWindow, _needs_token, iter_api_routes, public_routes
from ledger.store.uow import Context
from tests import factories as f


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides():
    clock = FakeClock()
    window = SlidingWindow(window=60, clock=clock)
    key = ("10.0.0.1", "sign_in")
    # 3 a minute: hits at t=0, 10, 20 pass; the 4th at t=30 waits until t=60 (the first leaves)
    for at in (0, 10, 20):
        clock.now = 1000 + at
        assert window.hit(key, 3) == 0
    clock.now = 1030
    assert window.hit(key, 3) == pytest.approx(30)
    clock.now = 1060  # the hit at t=0 left the window
    assert window.hit(key, 3) == 0
    assert window.hit(("10.0.0.2", "sign_in"), 3) == 0  # another address counts on its own
    assert window.hit(("10.0.0.1", "public"), 3) == 0  # and so does another group


def test_the_window_forgets_the_least_recent_addresses_past_its_bound():
    window = SlidingWindow(window=60, clock=FakeClock(), max_keys=100)
    for n in range(1000):
        window.hit((f"10.0.{n // 256}.{n % 256}", "public"), 5)
    assert len(window) == 100


def _limited_ctx(ctx: Context, limit: int) -> Context:
    return Context(engine=ctx.engine, secret_key=ctx.secret_key, deployment_id=ctx.deployment_id,
                   options={**ctx.options, "rate_limit_per_minute": limit})


def _app_with_probes(ctx: Context):
    """The real app, plus two token-free probe routes so the limiter is tested on its own."""
    app = create_app(ctx)

    def public_probe() -> dict:
        return {"ok": True}

    def sign_in_probe(body: dict) -> dict:
        return {"ok": True}

    app.add_api_route("/probe/public/{thing_id}", public_probe, methods=["GET"])
    app.add_api_route("/probe/sign-in", sign_in_probe, methods=["POST"])
    return app


def test_public_and_sign_in_paths_answer_429_past_the_limit(ctx):
    app = _app_with_probes(_limited_ctx(ctx, 3))
    with TestClient(app, client=("203.0.113.7", 5000)) as client:
        assert [client.get(f"/probe/public/{n}").status_code for n in range(3)] == [200, 200, 200]
        refused = client.get("/probe/public/99")
        assert refused.status_code == 429
        assert set(refused.json()) == {"code", "message", "field"}
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # sign-in is its own group: the public hits above do not count against it
        assert [client.post("/probe/sign-in", json={}).status_code for _ in range(3)] == [200] * 3
        assert client.post("/probe/sign-in", json={}).status_code == 429
        # monitoring is never refused
        assert all(client.get("/health").status_code == 200 for _ in range(10))
    with TestClient(app, client=("203.0.113.8", 5000)) as other:  # another address is not affected
        assert other.get("/probe/public/1").status_code == 200


def test_endpoints_behind_a_token_are_not_limited(ctx):
    units = f.tree(ctx)
    _, token = f.user(ctx, "unit_admin", units["station_a"])
    app = create_app(_limited_ctx(ctx, 2))
    with TestClient(app) as client:
        statuses = {client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code
                    for _ in range(6)}
        assert statuses == {200}


def _example_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_token_free_endpoint_of_the_app_is_limited(ctx):
    """Generated from the routes: whatever public endpoint lands is covered the day it lands."""
    app = create_app(_limited_ctx(ctx, 2))
    public = {regex.pattern: group for regex, _methods, group in public_routes(app)}
    limited = []
    for n, (path, route) in enumerate(iter_api_routes(app.routes)):
        if path == "/health" or _needs_token(route.dependant):
            continue
        method = sorted(route.methods - {"HEAD"})[0]
        example = _example_path(path)
        # one address per route: all public paths share one budget per address (the group)
        with TestClient(app, client=(f"198.51.{n // 250}.{n % 250 + 1}", 4000)) as client:
            # a redirect (303 after a page preference) is one hit, not two
            statuses = [client.request(method, example, json={}, follow_redirects=False).status_code
                        for _ in range(3)]
        assert statuses[-1] == 429, (method, path, statuses)
        assert 429 not in statuses[:2], (method, path, statuses)
        limited.append(path)
    assert len(set(limited)) == len(public)  # a page answers GET and POST on one path
    assert "/health" not in limited
    # sign-in is a group of its own
    groups = {path: group for path, group in ((p, g) for p, g in
              ((p, public.get(compile_path(p)[0].pattern)) for p in limited))}
    assert groups.get("/selfservice/sign-in", "sign_in") == "sign_in"
    assert groups.get("/signin") == "sign_in"  # the staff console's sign-in form
    assert all(group == "public" for path, group in groups.items() if "sign-in" not in path and path != "/signin")


def test_the_limiter_reads_its_limit_from_the_context(ctx):
    app = _app_with_probes(_limited_ctx(ctx, 1))
    with TestClient(app, client=("192.0.2.1", 1)) as client:
        assert [client.get("/probe/public/1").status_code for _ in range(2)] == [200, 429]
    assert any(isinstance(m.cls, type) and m.cls is RateLimit for m in app.user_middleware)
