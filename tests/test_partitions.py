"""Monthly partitions created ahead (jobs/partitions.py) and the partitioned ledger variant.

On PostgreSQL `postings` is partitioned by month (revision 0013): the job creates its months
ahead, a posting lands in its month, a back-dated one with no month in the DEFAULT
partition; on SQLite the job is a no-op that says so.  The partitioned variant of
`bench/partitioned.py` (transactions partitioned too, with their key table) is built in a scratch schema of the session's database and the job
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


def test_the_job_on_the_main_schema_creates_the_months_ahead_of_postings(ctx):
    year = 2100 + secrets.randbelow(800)  # job runs are keyed by period: a month no other test uses
    with ctx.uow() as uow:
        result = create_ahead(ctx, uow.session, f"{year}-11")
        uow.commit()
    if ctx.is_sqlite:  # SQLite has no partitioning: the job says so
        assert result == {"period": f"{year}-11", "partitioned": False, "created": []}
        return
    # postings is partitioned (revision 0013); transactions not yet (docs/scaling.md)
    assert result == {"period": f"{year}-11", "partitioned": True, "created": [
        f"public.postings_y{year}m11", f"public.postings_y{year}m12",
        f"public.postings_y{year + 1}m01", f"public.postings_y{year + 1}m02"],
        "analyzed": ["public.postings"]}  # the parent's own statistics (autovacuum skips it)
    with ctx.uow() as uow:
        assert ensure_partitions(uow.session, dt.date(year, 11, 1), dt.date(year + 1, 2, 1)) == []


def test_postings_land_in_their_month_and_a_month_without_one_in_the_default(ctx):
    """A posting goes to its month's partition; a back-dated one with no partition to the
    DEFAULT partition (never refused); that month is then not carved out of the default."""
    if ctx.is_sqlite:
        pytest.skip("declarative partitioning is PostgreSQL's")
    from tests import factories as f

    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    volunteer = f.volunteer(ctx, units["station_a"])
    now = ctx.local_now()
    this_month = dt.date(now.year, now.month, 1)
    recent = f.activity(ctx, units["station_a"], this_month)
    f.served(ctx, recorder, approver, volunteer, recent, dt.datetime.combine(this_month, dt.time(9)), 60)
    old_day = dt.date(1999, 5, 4) + dt.timedelta(days=secrets.randbelow(20))
    old = f.activity(ctx, units["station_a"], old_day)
    f.served(ctx, recorder, approver, volunteer, old, dt.datetime.combine(old_day, dt.time(9)), 60)
    with ctx.engine.connect() as conn:
        where = dict(conn.execute(text(
            "SELECT occurred_on, string_agg(DISTINCT tableoid::regclass::text, ',') FROM postings "
            "WHERE volunteer_id = :v GROUP BY occurred_on"), {"v": volunteer}).all())
    assert where[this_month] == partition_name("postings", this_month)
    assert where[old_day] == "postings_default"
    with ctx.uow() as uow:  # its rows are in the default partition: that month stays there
        assert ensure_partitions(uow.session, old_day, old_day) == []
        uow.commit()
    with pytest.raises(DBAPIError, match="append-only"):  # a partition is as append-only as the table
        with ctx.engine.begin() as conn:
            conn.execute(text(f"UPDATE {partition_name('postings', this_month)} SET amount = amount"))


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


def test_a_bulk_batch_makes_the_partitions_of_its_months_first(ctx):
    """Back-dated records loaded in bulk (a 台账 of old years) land in monthly partitions made
    for them before the batch, not in the DEFAULT one; a second batch in a transaction that
    already wrote postings does not wait on itself (its rows go to the DEFAULT partition)."""
    if ctx.is_sqlite:
        pytest.skip("declarative partitioning is PostgreSQL's")
    from ledger import bulk
    from tests import factories as f

    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approving, _ = f.user(ctx, "admin")
    year = 1900 + secrets.randbelow(90)  # months no other test uses
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(year - 1, 1, 1))
    activity = f.activity(ctx, units["station_a"], dt.date(year, 3, 1))

    def batch(month: int) -> list:
        start = dt.datetime(year, month, 3, 9)
        return [bulk.ApprovedService(volunteer, activity, start, start + dt.timedelta(minutes=60), recorder.user_id)]

    with ctx.uow() as uow:
        bulk.post_approved(uow.session, approving, batch(3), ctx.local_now())
        bulk.post_approved(uow.session, approving, batch(4), ctx.local_now())  # waits 2 s at most
        uow.commit()
    with ctx.engine.connect() as conn:
        where = dict(conn.execute(text(
            "SELECT extract(month FROM occurred_on)::int, string_agg(DISTINCT tableoid::regclass::text, ',') "
            "FROM postings WHERE volunteer_id = :v GROUP BY 1"), {"v": volunteer}).all())
    assert where == {3: partition_name("postings", dt.date(year, 3, 1)), 4: "postings_default"}
