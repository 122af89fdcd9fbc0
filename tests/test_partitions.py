"""Monthly partitions created ahead (jobs/partitions.py) and the partitioned ledger variant.

The main schema is not partitioned yet (docs/scaling.md says why): there the job is a
no-op that says so, on both engines.  On PostgreSQL the partitioned variant of
`bench/partitioned.py` is built in a scratch schema of the session's database and the job
creates its months ahead; a row lands in its month, a month without a partition is
refused, posted rows cannot change, and an idempotency key stays unique across partitions.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from jobs.partitions import JOBS, create_ahead, ensure_partitions, month_start, partition_name
from jobs.runner import run_period


def test_month_arithmetic_and_names():
    assert month_start(dt.date(2026, 11, 23)) == dt.date(2026, 11, 1)
    assert month_start(dt.date(2026, 11, 23), 3) == dt.date(2027, 2, 1)
    assert partition_name("postings", dt.date(2027, 2, 1)) == "postings_y2027m02"
    assert [job.name for job in JOBS] == ["create_partitions"]


def test_on_the_plain_schema_the_job_does_nothing_and_says_so(ctx):
    with ctx.uow() as uow:
        assert create_ahead(ctx, uow.session, "2026-11") == {"period": "2026-11", "partitioned": False,
                                                             "created": []}


@pytest.fixture
def scratch_schema(ctx):
    if ctx.is_sqlite:
        pytest.skip("declarative partitioning is PostgreSQL's; the SQLite half is the no-op test above")
    from bench.partitioned import create_partitioned_ledger

    schema = f"parts_{secrets.token_hex(4)}"
    with ctx.engine.begin() as conn:
        create_partitioned_ledger(conn, schema)
    yield schema
    with ctx.engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def _insert_tx(conn, schema: str, tx_id: int, key: str, day: dt.date) -> None:
    conn.execute(text(f"INSERT INTO {schema}.transaction_keys VALUES (:k, :i, :d)"), {"k": key, "i": tx_id, "d": day})
    conn.execute(text(f"INSERT INTO {schema}.transactions (id, kind, idempotency_key, occurred_on, recorded_at, actor, "
                      f"memo, content_hash) VALUES (:i, 'adjustment', :k, :d, now(), 't', '', :h)"),
                 {"i": tx_id, "k": key, "d": day, "h": "0" * 64})


def test_the_job_creates_the_months_ahead_once_and_rows_land_in_their_month(ctx, scratch_schema):
    schema = scratch_schema
    year = 2100 + secrets.randbelow(800)  # job runs are keyed by period: a month no other test uses
    period = f"{year}-11"
    job_ctx = replace(ctx, options={**ctx.options, "partition_schema": schema})
    first = run_period(job_ctx, JOBS[0], period)
    # November, and three months ahead: Dec, Jan, Feb — for both tables
    assert first["partitioned"] is True and len(first["created"]) == 8
    assert f"{schema}.postings_y{year + 1}m02" in first["created"]
    assert run_period(job_ctx, JOBS[0], period) is None  # the same period again: nothing
    with ctx.uow() as uow:  # and creating what exists creates nothing
        assert ensure_partitions(uow.session, dt.date(year, 11, 1), dt.date(year + 1, 2, 1), schema) == []

    day = dt.date(year, 12, 24)
    with ctx.engine.begin() as conn:
        account = conn.execute(text("INSERT INTO accounts (kind, owner_id, uom, is_non_negative, balance, created_at) "
                                    "VALUES ('system_points_expired', :o, 'PTS', false, 0, now()) RETURNING id"),
                               {"o": secrets.randbelow(10**9)}).scalar_one()
        _insert_tx(conn, schema, 10**12 + year, f"k-{year}", day)
        for amount in (5, -5):
            conn.execute(text(f"INSERT INTO {schema}.postings (transaction_id, account_id, uom, amount, occurred_on) "
                              f"VALUES (:t, :a, 'PTS', :m, :d)"), {"t": 10**12 + year, "a": account, "m": amount, "d": day})
        where = conn.execute(text(f"SELECT DISTINCT tableoid::regclass::text FROM {schema}.postings")).scalars().all()
    assert where == [f"{schema}.postings_y{year}m12"]

    with pytest.raises(DBAPIError):  # no partition for that month yet: refused, not lost
        with ctx.engine.begin() as conn:
            _insert_tx(conn, schema, 10**12 + year + 1, f"k2-{year}", dt.date(year + 3, 1, 1))
    with pytest.raises(DBAPIError):  # the idempotency key is unique across every partition
        with ctx.engine.begin() as conn:
            _insert_tx(conn, schema, 10**12 + year + 2, f"k-{year}", dt.date(year, 11, 2))
    with pytest.raises(DBAPIError, match="append-only"):
        with ctx.engine.begin() as conn:
            conn.execute(text(f"UPDATE {schema}.postings SET amount = amount + 1"))
