"""The FastAPI application: routes from `api.routes`, one error handler, OpenAPI at /docs."""
from __future__ import annotations

from fastapi import FastAPI, Header, Request, Response

from api import console, errors, middleware, observability, security
from api.deps import token_from_header
from api.routes import all_routers
from ledger.book import keys
from ledger.people.access import require_role
from ledger.people.auth import authenticate
from ledger.settings import Settings
from ledger.store.db import make_engine
from ledger.store.uow import Context

DESCRIPTION = """志愿服务时长、积分与嘉许激励台账 — the volunteer hours, points and incentive ledger.

Every request carries `Authorization: Bearer <token>`; every write carries an
`Idempotency-Key` header (a retry with the same key returns the first result).
Errors are `{"code", "message", "field"}`."""

LOOPBACK = frozenset({"127.0.0.1", "::1"})


def context_from_settings(settings: Settings) -> Context:
    """Build the ledger context (engine, standby, secret key, deployment) from settings."""
    replica = make_engine(settings.replica_url) if settings.replica_url else None
    return Context(engine=make_engine(settings.database_url), replica_engine=replica,
                   secret_key=settings.secret_bytes,
                   book_keys=keys.from_settings(settings.ledger_key, settings.secret_bytes, settings.data_dir),
                   deployment_id=settings.deployment_id, deployment_name=settings.deployment_name,
                   options={"transfer_future_limit_days": settings.transfer_future_limit_days,
                            "sign_in_max_attempts": settings.sign_in_max_attempts,
                            "sign_in_lockout_minutes": settings.sign_in_lockout_minutes,
                            "rate_limit_per_minute": settings.rate_limit_per_minute,
                            "replica_wait_ms": settings.replica_wait_ms,
                            "console_session_hours": settings.console_session_hours,
                            "token_ttl_days": settings.token_ttl_days,
                            "trusted_proxies": settings.trusted_proxies,
                            "data_dir": str(settings.data_dir)})


# uvicorn believes X-Forwarded-For from 127.0.0.1 by default; `TrustedProxies` decides instead
SERVER_OPTIONS = {"proxy_headers": False}


def create_app(ctx: Context | None = None, settings: Settings | None = None) -> FastAPI:
    """The app over a context (tests pass one; the server builds it from settings)."""
    settings = settings or Settings()
    ctx = ctx or context_from_settings(settings)
    app = FastAPI(title="志愿服务积分台账 Volunteer Ledger", version="0.1.0", description=DESCRIPTION)
    app.state.ctx = ctx
    app.state.settings = settings
    errors.install(app)
    middleware.install(app)
    security.install(app)
    observability.install(app, ctx)  # outermost: measures what the rate limit refuses too
    for router in all_routers():
        app.include_router(router)
    console.install(app)

    @app.get("/health", tags=["integrity"])
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/metrics", tags=["integrity"], response_class=Response)
    def metrics(request: Request, authorization: str | None = Header(None)) -> Response:
        """Prometheus metrics: from the loopback address, or with an admin's or auditor's token."""
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            require_role(authenticate(ctx.engine, token_from_header(authorization), ctx.now()), "admin", "auditor")
        body, content_type = observability.metrics_text()
        return Response(body, media_type=content_type)

    return app


def app_from_environment() -> FastAPI:
    """The app of one server process of several (`ledger serve --workers N`): settings from the
    environment; the supervising process upgraded, seeded and runs the scheduled jobs."""
    from api.observability import configure_json_logging

    configure_json_logging()
    settings = Settings()
    ctx = context_from_settings(settings)
    app = create_app(ctx, settings)
    if settings.scheduler_enabled:
        from jobs.scheduler import attach

        attach(app, ctx, settings)
    return app
