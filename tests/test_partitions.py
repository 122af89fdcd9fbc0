"""Monthly partitions created ahead (jobs/partitions.py) and the ledger's keys across them.

On PostgreSQL `postings` (revision 0013) and `transactions` (revision 0015) are partitioned
by month: the job creates their months ahead, a row lands in its month, a back-dated one
with no month in the DEFAULT partition; on SQLite the job is a no-op that says so.  What
must be unique across the whole ledger (idempotency keys, one reversal per transaction)
lives in the plain table `transaction_keys`, checked here on both engines.
"""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from jobs.partitions import JOBS, create_ahead, ensure_partitions, month_start
from ledger.store.partitions import partition_name


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
    # transactions (revision 0015) and postings (0013): November and three months ahead
    months = [f"y{year}m11", f"y{year}m12", f"y{year + 1}m01", f"y{year + 1}m02"]
    assert result == {"period": f"{year}-11", "partitioned": True,
                      "created": [f"public.{table}_{m}" for table in ("transactions", "postings") for m in months],
                      "analyzed": ["public.transactions", "public.postings"]}  # the parents' own statistics
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
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(1999, 1, 1))  # before both services
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


def _adjustment(ctx, key: str, day: dt.date, points: int = 5, reverses: int | None = None):
    """Post a small balanced transaction (deployment points to a volunteer's) through `post`."""
    from ledger.book.accounts import POINTS, account_id
    from ledger.book.postings import Leg, post
    from tests import factories as f

    units = f.tree(ctx)
    volunteer = f.volunteer(ctx, units["station_a"])
    with ctx.uow() as uow:
        s = uow.session
        mine, away = account_id(s, "volunteer_points", volunteer), account_id(s, "deployment_points", 1)
        tx = post(s, kind="adjustment", key=key, occurred_on=day, actor="test", volunteer_id=volunteer,
                  legs=[Leg(away, POINTS, -points, volunteer, None), Leg(mine, POINTS, points, volunteer, None)])
        uow.commit()
        return tx.id, volunteer


def test_transactions_land_in_their_month_with_their_key_row(ctx):
    """A transaction goes to its month's partition (revision 0015), its postings to theirs, and
    its ledger-wide keys to `transaction_keys`; a back-dated one to the DEFAULT partition."""
    if ctx.is_sqlite:
        pytest.skip("declarative partitioning is PostgreSQL's")
    now = ctx.local_now()
    this_month = dt.date(now.year, now.month, 1)
    old_day = dt.date(1998, 3, 2) + dt.timedelta(days=secrets.randbelow(20))
    recent, _ = _adjustment(ctx, f"part-{secrets.token_hex(4)}", this_month)
    old, _ = _adjustment(ctx, f"part-{secrets.token_hex(4)}", old_day)
    with ctx.engine.connect() as conn:
        where = dict(conn.execute(text(
            "SELECT id, tableoid::regclass::text FROM transactions WHERE id IN (:a, :b)"), {"a": recent, "b": old}).all())
        keys = dict(conn.execute(text(
            "SELECT transaction_id, occurred_on FROM transaction_keys WHERE transaction_id IN (:a, :b)"),
            {"a": recent, "b": old}).all())
        postings = set(conn.execute(text(
            "SELECT tableoid::regclass::text FROM postings WHERE transaction_id IN (:a, :b)"),
            {"a": recent, "b": old}).scalars())
    assert where == {recent: partition_name("transactions", this_month), old: "transactions_default"}
    assert keys == {recent: this_month, old: old_day}
    assert postings == {partition_name("postings", this_month), "postings_default"}
    with pytest.raises(DBAPIError, match="append-only"):  # a partition is as append-only as the table
        with ctx.engine.begin() as conn:
            conn.execute(text(f"UPDATE {partition_name('transactions', this_month)} SET memo = memo"))
    with pytest.raises(DBAPIError, match="append-only"):
        with ctx.engine.begin() as conn:
            conn.execute(text("DELETE FROM transaction_keys WHERE transaction_id = :t"), {"t": recent})


def test_keys_stay_unique_across_months(ctx):
    """The idempotency key is unique across every month (a retry of the same key on another
    date is the same write, or refused), nothing is reversed twice, and a key row must name
    its transaction's month: on both engines, in the database itself."""
    from ledger.book.postings import reverse
    from ledger.errors import AlreadyReversed, IdempotencyConflict

    key = f"unique-{secrets.token_hex(4)}"
    first, volunteer = _adjustment(ctx, key, dt.date(2025, 1, 15))
    with pytest.raises(IdempotencyConflict):  # the same key, another month, other content
        _adjustment(ctx, key, dt.date(2025, 6, 15), points=7)
    with pytest.raises(IntegrityError):  # and straight into the table, past `post`
        with ctx.engine.begin() as conn:
            conn.execute(text("INSERT INTO transaction_keys (transaction_id, idempotency_key, occurred_on) "
                              "VALUES (:t, :k, :d)"), {"t": first + 10**9, "k": key, "d": dt.date(2025, 6, 15)})
    with ctx.uow() as uow:
        reversal = reverse(uow.session, first, actor="test", occurred_on=dt.date(2025, 2, 1), memo="录入错误")
        uow.commit()
    with pytest.raises(AlreadyReversed):
        with ctx.uow() as uow:
            reverse(uow.session, first, actor="test", occurred_on=dt.date(2025, 3, 1), memo="again")
    other, _ = _adjustment(ctx, f"other-{secrets.token_hex(4)}", dt.date(2025, 3, 1))
    with pytest.raises(IntegrityError):  # a second key row reversing the same transaction
        with ctx.engine.begin() as conn:
            conn.execute(text("INSERT INTO transaction_keys (transaction_id, idempotency_key, occurred_on, "
                              "reverses_id) VALUES (:t, :k, :d, :r)"),
                         {"t": other, "k": f"x-{secrets.token_hex(4)}", "d": dt.date(2025, 3, 1), "r": first})
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT reverses_id FROM transaction_keys WHERE transaction_id = :t"),
                            {"t": reversal.id}).scalar_one() == first
    if not ctx.is_sqlite:  # a key row in another month than its transaction's: no such transaction
        with pytest.raises(IntegrityError):
            with ctx.engine.begin() as conn:
                conn.execute(text("INSERT INTO transaction_keys (transaction_id, idempotency_key, occurred_on) "
                                  "SELECT id, 'moved-' || id, occurred_on + 40 FROM transactions WHERE id = :t"),
                             {"t": other})


def test_a_bulk_batch_makes_the_partitions_of_its_months_first(ctx):
    """Back-dated records loaded in bulk (a 台账 of old years) land in monthly partitions made
    for them before the batch, not in the DEFAULT one; a second batch in a transaction that
    already wrote postings does not wait on itself (its rows go to the DEFAULT partition)."""
    if ctx.is_sqlite:
        pytest.skip("declarative partitioning is PostgreSQL's")
    from ledger.service import bulk
    from tests import factories as f

    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approving, _ = f.user(ctx, "admin")
    year = 1900 + secrets.randbelow(90)  # months no other test uses
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(year - 1, 1, 1))
    activities = {month: f.activity(ctx, units["station_a"], dt.date(year, month, 3)) for month in (3, 4)}

    def batch(month: int) -> list:  # a service on its activity's day
        start = dt.datetime(year, month, 3, 9)
        return [bulk.ApprovedService(volunteer, activities[month], start, start + dt.timedelta(minutes=60),
                                     recorder.user_id)]

    with ctx.uow() as uow:
        bulk.post_approved(uow.session, approving, batch(3), ctx.local_now())
        bulk.post_approved(uow.session, approving, batch(4), ctx.local_now())  # waits 2 s at most
        uow.commit()
    with ctx.engine.connect() as conn:
        where = dict(conn.execute(text(
            "SELECT extract(month FROM occurred_on)::int, string_agg(DISTINCT tableoid::regclass::text, ',') "
            "FROM postings WHERE volunteer_id = :v GROUP BY 1"), {"v": volunteer}).all())
    assert where == {3: partition_name("postings", dt.date(year, 3, 1)), 4: "postings_default"}
    with ctx.engine.connect() as conn:  # their transactions alike, each with its key row
        where = dict(conn.execute(text(
            "SELECT extract(month FROM t.occurred_on)::int, string_agg(DISTINCT t.tableoid::regclass::text, ',') "
            "FROM transactions t JOIN transaction_keys k ON k.transaction_id = t.id AND k.occurred_on = t.occurred_on "
            "WHERE t.volunteer_id = :v GROUP BY 1"), {"v": volunteer}).all())
    assert where == {3: partition_name("transactions", dt.date(year, 3, 1)), 4: "transactions_default"}
