"""The zero-sum rule in PostgreSQL too: a transaction whose postings do not sum to zero per unit
of measure is refused at COMMIT by a deferred constraint trigger, also under the
`session_replication_role = replica` the bulk path's COPYs run with."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ledger.book.accounts import MINUTES, POINTS, account_id
from tests import factories as f

DAY = dt.date(2026, 3, 2)


@pytest.fixture
def pg_ctx(ctx):
    if ctx.is_sqlite:
        pytest.skip("the constraint trigger is PostgreSQL's (SQLite: the rule is checked in Python)")
    return ctx


def _write(ctx, legs: list[tuple[int, str, int]], *, replica: bool = False) -> int:
    """A transaction with these legs, written with plain INSERTs in one database transaction."""
    with ctx.engine.connect() as conn, conn.begin():
        if replica:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        tx_id = conn.execute(text("INSERT INTO transactions (kind, idempotency_key, occurred_on, recorded_at, actor, "
                                  "memo, content_hash) VALUES ('test', :k, :d, now(), 't', '', :h) RETURNING id"),
                             {"k": f.ref("zero-sum"), "d": DAY, "h": "0" * 64}).scalar_one()
        for account, uom, amount in legs:
            conn.execute(text("INSERT INTO postings (transaction_id, account_id, uom, amount, occurred_on) "
                              "VALUES (:t, :a, :u, :m, :d)"), {"t": tx_id, "a": account, "u": uom, "m": amount, "d": DAY})
        # each INSERT was accepted: the rule is checked at COMMIT, when the transaction is whole
    return tx_id


def _accounts(ctx) -> tuple[int, int, int, int]:
    units = f.tree(ctx)
    volunteer = f.volunteer(ctx, units["station_a"])
    with ctx.uow() as uow:
        s = uow.session
        found = (account_id(s, "volunteer_minutes", volunteer), account_id(s, "unit_minutes_served", units["station_a"]),
                 account_id(s, "volunteer_points", volunteer), account_id(s, "unit_points_issued", units["station_a"]))
        uow.commit()
    return found


@pytest.mark.parametrize("replica", [False, True], ids=["plain", "replica"])
def test_an_unbalanced_transaction_is_refused_at_commit(pg_ctx, replica):
    minutes, served, points, issued = _accounts(pg_ctx)
    with pytest.raises(IntegrityError, match="does not balance"):
        _write(pg_ctx, [(minutes, MINUTES, 60), (served, MINUTES, -59)], replica=replica)
    with pytest.raises(IntegrityError, match="does not balance"):  # balanced in total, not per unit of measure
        _write(pg_ctx, [(minutes, MINUTES, 60), (issued, POINTS, -60)], replica=replica)
    tx_id = _write(pg_ctx, [(minutes, MINUTES, 60), (served, MINUTES, -60), (points, POINTS, 6), (issued, POINTS, -6)],
                   replica=replica)
    with pg_ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM postings WHERE transaction_id = :t"), {"t": tx_id}).scalar() == 4


def test_a_posting_added_later_to_a_balanced_transaction_is_refused(pg_ctx):
    minutes, served, _points, _issued = _accounts(pg_ctx)
    tx_id = _write(pg_ctx, [(minutes, MINUTES, 60), (served, MINUTES, -60)])
    with pytest.raises(IntegrityError, match="does not balance"):
        with pg_ctx.engine.connect() as conn, conn.begin():
            conn.execute(text("INSERT INTO postings (transaction_id, account_id, uom, amount, occurred_on) "
                              "VALUES (:t, :a, 'MIN', 5, :d)"), {"t": tx_id, "a": minutes, "d": DAY})
