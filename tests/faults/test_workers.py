"""`ledger serve` with several server processes on PostgreSQL: every process answers, the
scheduled jobs run once per period whichever process fires, and /metrics adds up the
requests of all processes."""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import httpx
import pytest

from ledger.store.jobruns import finished_run
from tests.faults.server import LedgerServer
from tests.faults.test_crash_safety import pg_ctx  # noqa: F401  (a migrated PostgreSQL database of its own)

pytestmark = [pytest.mark.slow]


def test_two_server_processes_answer_and_their_metrics_add_up(pg_ctx, tmp_path):
    url = pg_ctx.engine.url.render_as_string(hide_password=False)
    with LedgerServer(url, tmp_path / "server", scheduler=True, extra_env={"LEDGER_WORKERS": "2"}) as server:
        for _ in range(40):
            assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        log = server.log()
    found = re.search(r'ledger_http_request_duration_seconds_count\{method="GET",route="/health",status="200"\} (\S+)',
                      metrics)
    assert found and float(found.group(1)) >= 40  # the processes' counts, summed (plus the readiness polls)
    assert len(set(re.findall(r"Started server process \[(\d+)\]", log))) == 2
    ran = re.findall(r'ledger_job_runs_total\{job="seal_day",outcome="ran"\} (\S+)', metrics)
    assert ran and float(ran[0]) >= 1  # the day's seal ran...
    yesterday = (dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=1)).isoformat()
    with pg_ctx.uow() as uow:
        assert finished_run(uow.session, "seal_day", yesterday) is not None  # ...once: one row per period
