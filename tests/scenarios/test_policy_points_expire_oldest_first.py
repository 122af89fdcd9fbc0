"""Worked story: points earned in a year expire at the end of the following year, oldest first,
after part of them was spent; the monthly job runs each period once and never goes below zero.

Default policy (10 pts/h, expiry end_of_following_year), 文化文艺, no date tag:
* 2025-03-10, 3 h → 30 pts (last day 2026-12-31);  2026-03-10, 2 h → 20 pts (last day 2027-12-31).
* 2026-04-01 the volunteer spends 25 pts: taken from the 2025 points first → 2025 lot has 5 left.
* Job for 2026-01 (points that ended before 2026-01-01): nothing.
* Job for 2027-01: the 5 left of 2025 expire → balance 50 − 25 − 5 = 20.  Run again: nothing.
* 2027-02-01 the volunteer spends 5 more (from the 2026 lot: 15 left).
* Job for 2028-01: the 15 left of 2026 expire → balance 20 − 5 − 15 = 0, never below zero.
`verify` then reproduces every balance from the postings.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jobs.runner import job_named, run_period
from ledger.book.accounts import POINTS, account_id, balance
from ledger.book.integrity import verify
from ledger.book.postings import Leg, post
from ledger.book.tables import Transaction
from tests import factories as f

DESK = 990001


def spend(ctx, volunteer_id: int, points: int, on: dt.date) -> None:
    """A plain ledger debit to a desk (redemption itself is built elsewhere)."""
    with ctx.uow() as uow:
        s = uow.session
        post(s, kind="redemption", key=f"test-spend:{volunteer_id}:{on}", occurred_on=on, actor="test",
             volunteer_id=volunteer_id, legs=[
                 Leg(account_id(s, "volunteer_points", volunteer_id), POINTS, -points, volunteer_id),
                 Leg(account_id(s, "desk_points_redeemed", DESK), POINTS, points, volunteer_id)])
        uow.commit()


def points(ctx, volunteer_id: int) -> int:
    with ctx.uow() as uow:
        return balance(uow.session, "volunteer_points", volunteer_id)


def test_partly_spent_points_expire_oldest_first_across_two_years(fresh_ctx):
    ctx = fresh_ctx
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"])
    for day, minutes in ((dt.date(2025, 3, 10), 180), (dt.date(2026, 3, 10), 120)):
        activity_id = f.activity(ctx, units["station_a"], day)
        f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime.combine(day, dt.time(9)), minutes)
    assert points(ctx, volunteer_id) == 50
    spend(ctx, volunteer_id, 25, dt.date(2026, 4, 1))
    job = job_named("expire_points")

    assert run_period(ctx, job, "2026-01") == {"period": "2026-01", "as_of": "2026-01-01", "volunteers": 0,
                                               "points": 0}
    assert run_period(ctx, job, "2027-01")["points"] == 5
    assert points(ctx, volunteer_id) == 20
    assert run_period(ctx, job, "2027-01") is None  # the period already ran: nothing more
    assert points(ctx, volunteer_id) == 20

    spend(ctx, volunteer_id, 5, dt.date(2027, 2, 1))
    assert run_period(ctx, job, "2028-01")["points"] == 15
    assert points(ctx, volunteer_id) == 0
    assert run_period(ctx, job, "2028-02")["points"] == 0
    with ctx.uow() as uow:
        expiries = uow.session.execute(select(Transaction.idempotency_key, Transaction.occurred_on)
                                       .where(Transaction.kind == "expiry").order_by(Transaction.id)).all()
        assert expiries == [(f"expiry:2027-01:{volunteer_id}", dt.date(2026, 12, 31)),
                            (f"expiry:2028-01:{volunteer_id}", dt.date(2027, 12, 31))]
        report = verify(uow.session)
    assert report.ok, report.problems
