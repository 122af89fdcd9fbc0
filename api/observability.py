"""The service's own metrics (`/metrics`, Prometheus text format) and structured JSON logs.

What `/metrics` exposes (no personal data: routes are path templates, never filled-in paths):
- `ledger_http_request_duration_seconds{method,route,status}`: a latency histogram per route;
- `ledger_writes_total{operation,outcome}`: idempotent writes, `ok`, `replayed` or the refusal's
  error code (`insufficient_points`, `conflict`, `forbidden`, …);
- `ledger_job_runs_total{job,outcome}` and `ledger_job_run_duration_seconds{job}`: scheduled jobs;
- `ledger_db_pool_connections{state}`: the database pool (`in_use`, `idle`, `overflow`, `size`);
- with a hot standby: `ledger_standby_reads_total{target}` and `ledger_replica_lag_bytes`.
It answers the loopback address, or an admin or auditor's bearer token.

Every request gets a request id (the client's `X-Request-ID` when it is a plain token, else a
new one), returned in the `X-Request-ID` header and written in every log line of the request.
Log lines are JSON objects; the access line names the route template, never the query string
(which may carry a phone number's digits), the status and the duration.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import re
import time
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.routing import Match

from ledger.store.replica import current_reader

REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_SECONDS = Histogram(
    "ledger_http_request_duration_seconds", "HTTP request latency by route template",
    ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0))
WRITES = Counter("ledger_writes_total", "Idempotent writes by operation and outcome",
                 ["operation", "outcome"], registry=REGISTRY)
JOB_RUNS = Counter("ledger_job_runs_total", "Scheduled job runs by outcome (ran, skipped, failed)",
                   ["job", "outcome"], registry=REGISTRY)
JOB_SECONDS = Histogram("ledger_job_run_duration_seconds", "Duration of scheduled job runs", ["job"],
                        registry=REGISTRY, buckets=(0.01, 0.1, 0.5, 1, 5, 30, 120, 600))

REQUEST_ID = contextvars.ContextVar("request_id", default=None)
_REQUEST_ID_FORM = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("ledger.access")


class PoolCollector:
    """The database pool's connections, read when scraped (no bookkeeping on the hot path)."""

    def __init__(self):
        self.engines: list = []

    def collect(self):
        gauge = GaugeMetricFamily("ledger_db_pool_connections", "Database pool connections by state",
                                  labels=["state"])
        in_use = idle = overflow = size = 0
        for engine in self.engines:
            pool = engine.pool
            for name, reader in (("checkedout", "in_use"), ("checkedin", "idle"), ("overflow", "overflow"),
                                 ("size", "size")):
                method = getattr(pool, name, None)
                if method is None:
                    continue
                value = max(int(method()), 0)
                if reader == "in_use":
                    in_use += value
                elif reader == "idle":
                    idle += value
                elif reader == "overflow":
                    overflow += value
                else:
                    size += value
        for state, value in (("in_use", in_use), ("idle", idle), ("overflow", overflow), ("size", size)):
            gauge.add_metric([state], value)
        yield gauge


POOL = PoolCollector()
REGISTRY.register(POOL)


class StandbyCollector:
    """Where standby reads went (`ledger_standby_reads_total{target}`) and the standby's lag."""

    def __init__(self):
        self.router = None

    def collect(self):
        if self.router is None or not self.router.enabled:
            return
        reads = CounterMetricFamily("ledger_standby_reads", "Standby-eligible reads by where they ran",
                                    labels=["target"])
        for target, count in sorted(self.router.stats.items()):
            reads.add_metric([target], count)
        yield reads
        lag = self.router.lag_bytes()
        if lag is not None:
            yield GaugeMetricFamily("ledger_replica_lag_bytes", "WAL bytes the standby has not replayed yet",
                                    value=lag)


STANDBY = StandbyCollector()
REGISTRY.register(STANDBY)


def count_write(operation: str, outcome: str) -> None:
    """Count one idempotent write's outcome."""
    WRITES.labels(operation=operation, outcome=outcome).inc()


def observe_job(job: str, outcome: str, seconds: float) -> None:
    """Count one scheduled job run and its duration."""
    JOB_RUNS.labels(job=job, outcome=outcome).inc()
    if outcome == "ran":
        JOB_SECONDS.labels(job=job).observe(seconds)


def use_multiprocess(folder: str) -> None:
    """Gather metrics across server processes (call in the supervising process before it starts
    them): each process writes its samples under `folder`, and a scrape adds them up."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def metrics_text() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type (summed over processes
    when several serve: `use_multiprocess`; the pool and the standby are the answering one's)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    gathered = CollectorRegistry()
    multiprocess.MultiProcessCollector(gathered, path=folder)
    gathered.register(POOL)
    gathered.register(STANDBY)
    return generate_latest(gathered), CONTENT_TYPE_LATEST


def _route_template(scope) -> str:
    """The path template of the route that answers (`/volunteers/{volunteer_id}`), or `unmatched`."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return route.path
    for candidate in scope["app"].router.routes:
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return getattr(candidate, "path", "unmatched")
    return "unmatched"


class Observe:
    """ASGI middleware: request id, latency histogram per route, one JSON access line."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        reader = current_reader.set(_reader_key(scope))
        status = {"code": 500}
        started = time.perf_counter()

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            REQUEST_SECONDS.labels(method=scope["method"], route=route, status=str(status["code"])).observe(seconds)
            access_log.info("request", extra={"request_id": request_id, "method": scope["method"], "route": route,
                                              "status": status["code"], "ms": round(seconds * 1000, 2)})
            REQUEST_ID.reset(token)
            current_reader.reset(reader)


def _reader_key(scope) -> str | None:
    """Who reads, for read-your-writes on the standby: a digest of the request's credential."""
    credential = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            credential = value
            break
        if name == b"cookie":
            credential = value
    return hashlib.sha256(credential).hexdigest() if credential else None


def _request_id(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID_FORM.fullmatch(text):
                return text
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and the line's extras."""

    FIELDS = ("method", "route", "status", "ms", "job", "period")

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "logger": record.name, "msg": record.getMessage()}
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for name in self.FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, ensure_ascii=False)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send every log line (ours and the server's) to stderr as JSON; the server's own access log off."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # its lines carry query strings


def install(app, ctx) -> None:
    """Measure every request, the scheduled jobs, the pool and the standby (called by `create_app`)."""
    from jobs import runner

    if ctx.engine not in POOL.engines:
        POOL.engines.append(ctx.engine)
    STANDBY.router = ctx.replica
    if observe_job not in runner.RUN_OBSERVERS:
        runner.RUN_OBSERVERS.append(observe_job)
    app.add_middleware(Observe)
