"""The service's own metrics and logs: /metrics in Prometheus format, a request id on every
request and JSON log lines that carry it, never a query string."""
from __future__ import annotations

import json
import logging
import re
import uuid

from fastapi.testclient import TestClient

from api.app import create_app
from api.observability import JsonFormatter
from jobs import runner
from tests import factories as f


def _sample(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels_text = line[len(name) + 1:line.rindex("} ")]  # a route template holds braces itself
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_answer_loopback_and_admins_only(ctx):
    _, admin = f.user(ctx, "admin")
    units = f.tree(ctx)
    _, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    app = create_app(ctx)
    with TestClient(app, client=("203.0.113.9", 40000)) as remote:
        assert remote.get("/metrics").status_code == 401
        assert remote.get("/metrics", headers={"Authorization": f"Bearer {station_admin}"}).status_code == 403
        answer = remote.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200


def test_requests_writes_and_jobs_are_counted_by_template_and_outcome(ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"])
    with TestClient(create_app(ctx), client=("127.0.0.1", 40000)) as client:
        before = client.get("/metrics").text
        auth = {"Authorization": f"Bearer {admin}"}
        assert client.get(f"/volunteers/{volunteer_id}", headers=auth).status_code == 200
        body = {"unit_id": units["station_a"], "title": "敬老院探访", "category": "关爱服务",
                "held_on": "2026-11-20"}
        key = str(uuid.uuid4())
        assert client.post("/activities", json=body, headers={**auth, "Idempotency-Key": key}).status_code == 201
        assert client.post("/activities", json=body, headers={**auth, "Idempotency-Key": key}).status_code == 201
        refused = client.post("/activities", json={**body, "unit_id": 987654},
                              headers={**auth, "Idempotency-Key": str(uuid.uuid4())})
        assert refused.status_code == 404
        runner.run_period(ctx, runner.job_named("seal_day"), "2026-11-19")
        runner.run_period(ctx, runner.job_named("seal_day"), "2026-11-19")  # ran before: skipped
        after = client.get("/metrics").text
    route = "/volunteers/{volunteer_id}"
    assert (_sample(after, "ledger_http_request_duration_seconds_count", route=route, status="200")
            - _sample(before, "ledger_http_request_duration_seconds_count", route=route, status="200")) == 1
    assert f"/volunteers/{volunteer_id}\"" not in after  # templates, never filled-in paths
    operation = {"operation": "activity.create"}
    assert _sample(after, "ledger_writes_total", **operation, outcome="ok") - \
        _sample(before, "ledger_writes_total", **operation, outcome="ok") == 1
    assert _sample(after, "ledger_writes_total", **operation, outcome="replayed") - \
        _sample(before, "ledger_writes_total", **operation, outcome="replayed") == 1
    assert _sample(after, "ledger_writes_total", **operation, outcome="not_found") - \
        _sample(before, "ledger_writes_total", **operation, outcome="not_found") == 1
    assert _sample(after, "ledger_job_runs_total", job="seal_day", outcome="ran") - \
        _sample(before, "ledger_job_runs_total", job="seal_day", outcome="ran") == 1
    assert _sample(after, "ledger_job_runs_total", job="seal_day", outcome="skipped") - \
        _sample(before, "ledger_job_runs_total", job="seal_day", outcome="skipped") == 1
    assert "ledger_db_pool_connections{state=\"in_use\"}" in after


def test_log_lines_are_json_with_the_request_id_and_no_query_string(ctx, caplog):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    f.volunteer(ctx, units["station_a"])
    formatter = JsonFormatter()
    with TestClient(create_app(ctx)) as client, caplog.at_level(logging.INFO, logger="ledger.access"):
        answer = client.get("/volunteers?number=13800138000", headers={"Authorization": f"Bearer {admin}",
                                                                        "X-Request-ID": "req-42"})
        odd = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert answer.headers["X-Request-ID"] == "req-42"
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])  # a client's odd id is replaced
    record = next(r for r in caplog.records if getattr(r, "route", None) == "/volunteers")
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "req-42" and line["route"] == "/volunteers" and line["status"] == 200
    assert "13800138000" not in json.dumps(line)
