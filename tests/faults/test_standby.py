"""Reads from a hot standby: a private primary and its streaming standby (initdb,
pg_basebackup) on ports of their own; the shared server is never touched.

The story: the demo-sized world is written on the primary; a volunteer's balances are read
over HTTP through the standby; the writer who just approved a record sees it at once (their
read waits for the standby, or goes to the primary); with replay paused, the writer's reads
go to the primary within the wait bound while others read the standby as it is; the standby
stopped mid-run, reads fall back to the primary and keep answering.
"""
from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from ledger.store.db import make_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import Context
from tests import factories as f
from tests.faults.pgcluster import PrivateCluster, postgres_bin

pytestmark = [pytest.mark.slow]


@pytest.fixture
def pair():
    """A primary and a streaming standby of it, both private; removed afterwards."""
    try:
        postgres_bin()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    primary = PrivateCluster()
    primary.init()
    primary.start()
    standby = PrivateCluster()
    try:
        primary.create_database("ledger")
        upgrade(primary.url("ledger"))
        standby._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                     "-D", str(standby.data), "-R", "-X", "stream", "--no-sync")
        standby.start()
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


def _wait_replayed(standby_engine, primary_engine) -> None:
    with primary_engine.connect() as p:
        head = p.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
    deadline = time.monotonic() + 30
    with standby_engine.connect() as s:
        while s.execute(text("SELECT pg_last_wal_replay_lsn() >= :h"), {"h": head}).scalar_one() is not True:
            assert time.monotonic() < deadline, "the standby never caught up"
            time.sleep(0.05)


def test_reads_go_to_the_standby_with_the_writers_own_writes_and_fall_back_when_it_stops(pair):
    primary, standby = pair
    primary_engine = make_engine(primary.url("ledger"))
    standby_engine = make_engine(standby.url("ledger"))
    ctx = Context(engine=primary_engine, replica_engine=standby_engine, secret_key=b"k" * 32,
                  clock=lambda: dt.datetime(2026, 11, 20, 4, tzinfo=dt.timezone.utc),
                  options={"rate_limit_per_minute": 100000, "replica_wait_ms": 300})
    units = f.tree(ctx)
    _, recorder = f.user(ctx, "unit_admin", units["station_a"])
    _, approver = f.user(ctx, "unit_admin", units["institute"])
    _, reader = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 16))
    _wait_replayed(standby_engine, primary_engine)

    def record(client, start_hour: int) -> int:
        body = {"volunteer_id": volunteer_id, "activity_id": activity_id,
                "started_at": f"2026-11-16T{start_hour:02d}:00:00", "ended_at": f"2026-11-16T{start_hour + 1:02d}:00:00"}
        made = client.post("/service-records", json=body,
                           headers={"Authorization": f"Bearer {recorder}", "Idempotency-Key": str(uuid.uuid4())})
        assert made.status_code == 201, made.text
        approved = client.post(f"/service-records/{made.json()['id']}/approve",
                               headers={"Authorization": f"Bearer {approver}", "Idempotency-Key": str(uuid.uuid4())})
        assert approved.status_code == 200, approved.text
        return approved.json()["id"]

    def minutes(client, token: str) -> int:
        answer = client.get(f"/volunteers/{volunteer_id}/balances", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()["minutes_total"]

    with TestClient(create_app(ctx)) as client:
        stats = ctx.replica.stats
        assert minutes(client, reader) == 0 and stats["standby"] == 1  # an idle reader: the standby

        record(client, 9)
        assert minutes(client, approver) == 60  # the writer's own write, at once
        assert stats["standby"] + stats["primary_behind"] == 2

        with standby_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as s:
            s.execute(text("SELECT pg_wal_replay_pause()"))
            record(client, 10)
            assert minutes(client, approver) == 120  # the standby is behind: the primary answers
            assert stats["primary_behind"] >= 1
            behind = stats["standby"]
            assert minutes(client, reader) == 60  # others read the standby as it is
            assert stats["standby"] == behind + 1
            s.execute(text("SELECT pg_wal_replay_resume()"))

        standby.stop("immediate")  # mid-run
        assert minutes(client, reader) == 120 and minutes(client, approver) == 120
        assert stats["primary_standby_down"] >= 1
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).text
        assert 'ledger_standby_reads_total{target="primary_standby_down"}' in metrics
    primary_engine.dispose()
    standby_engine.dispose()
