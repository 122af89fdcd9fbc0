"""Caps as counties write them: per activity means the sum of the volunteer's records in that
activity; a points cap (积分封顶) limits points while every hour still counts; week and month
caps sum the week (Monday to Sunday) and the month.  One by one and in bulk, the same figures.
"""
from __future__ import annotations

import datetime as dt

from ledger.book.accounts import balance
from ledger.incentives.policies import PublishPolicy, publish_policy
from ledger.service import bulk
from ledger.store.uow import Context
from tests import factories as f

POLICY = """
[policy]
name = "积分封顶办法"

[points]
per_hour = 10

[caps]
per_activity_minutes = 240
per_day_points = 20
per_week_minutes = 420

[stars]
[[stars.levels]]
hours = 100
"""

# (activity index, start, minutes), one volunteer, in service order
SERVICES = [
    (0, dt.datetime(2026, 3, 3, 9), 180),   # Tue, activity A
    (0, dt.datetime(2026, 3, 3, 13), 120),  # Tue, activity A again
    (1, dt.datetime(2026, 3, 5, 9), 150),   # Thu, activity B
    (2, dt.datetime(2026, 3, 9, 9), 60),    # next Monday, activity C
]
# By hand:
# 1. A 180 min: activity 0 before -> 180; week 0 -> 180.  Points 3 h x 10 = 30, day cap 20 -> 20.
# 2. A 120 min: activity 180 before, 240 - 180 = 60 left -> 60.  Points 10; the day has 20 -> 0.
# 3. B 150 min: week 240 before, 420 - 240 = 180 left -> 150.  Points 25, new day -> 20.
# 4. C 60 min on a new week: 60 -> 60.  Points 10 -> 10.
# Hours: 180 + 60 + 150 + 60 = 450 min; points: 20 + 0 + 20 + 10 = 50.
CREDITED, POINTS = [180, 60, 150, 60], [20, 0, 20, 10]


def _world(ctx: Context) -> dict:
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    with ctx.uow() as uow:
        publish_policy(uow.session, approver, PublishPolicy(units["center"], dt.date(2026, 1, 1), POLICY))
        uow.commit()
    acts = [f.activity(ctx, units["station_a"], day) for day in
            (dt.date(2026, 3, 3), dt.date(2026, 3, 5), dt.date(2026, 3, 9))]
    return {"recorder": recorder, "approver": approver, "acts": acts,
            "volunteer": f.volunteer(ctx, units["station_a"], registered_on=dt.date(2025, 1, 1))}


def _amounts(ctx: Context, volunteer_id: int) -> tuple[list[int], list[int], int, int]:
    from sqlalchemy import text
    with ctx.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT sr.id, a.kind, p.amount FROM service_records sr "
            "JOIN postings p ON p.transaction_id = sr.transaction_id JOIN accounts a ON a.id = p.account_id "
            "WHERE sr.volunteer_id = :v AND a.kind IN ('volunteer_minutes', 'volunteer_points') ORDER BY sr.id"),
            {"v": volunteer_id}).all()
    minutes = [amount for _id, kind, amount in rows if kind == "volunteer_minutes"]
    points_by_record: dict[int, int] = {}
    for record_id, kind, amount in rows:
        points_by_record.setdefault(record_id, 0)
        if kind == "volunteer_points":
            points_by_record[record_id] += amount
    with ctx.uow() as uow:
        return (minutes, list(points_by_record.values()),
                balance(uow.session, "volunteer_minutes", volunteer_id),
                balance(uow.session, "volunteer_points", volunteer_id))


def test_caps_per_activity_day_and_week_one_by_one(ctx):
    world = _world(ctx)
    for activity, start, minutes in SERVICES:
        f.served(ctx, world["recorder"], world["approver"], world["volunteer"], world["acts"][activity],
                 start, minutes)
    assert _amounts(ctx, world["volunteer"]) == (CREDITED, POINTS, 450, 50)


def test_caps_per_activity_day_and_week_in_bulk(ctx):
    world = _world(ctx)
    services = [bulk.ApprovedService(world["volunteer"], world["acts"][activity], start,
                                     start + dt.timedelta(minutes=minutes), world["recorder"].user_id)
                for activity, start, minutes in SERVICES]
    with ctx.uow() as uow:
        bulk.post_approved(uow.session, world["approver"], services, ctx.local_now())
        uow.commit()
    assert _amounts(ctx, world["volunteer"]) == (CREDITED, POINTS, 450, 50)


def test_bulk_counts_what_single_postings_credited_before(ctx):
    """The first two records one by one, the last two in a batch: the same figures."""
    world = _world(ctx)
    for activity, start, minutes in SERVICES[:2]:
        f.served(ctx, world["recorder"], world["approver"], world["volunteer"], world["acts"][activity],
                 start, minutes)
    services = [bulk.ApprovedService(world["volunteer"], world["acts"][activity], start,
                                     start + dt.timedelta(minutes=minutes), world["recorder"].user_id)
                for activity, start, minutes in SERVICES[2:]]
    with ctx.uow() as uow:
        bulk.post_approved(uow.session, world["approver"], services, ctx.local_now())
        uow.commit()
    assert _amounts(ctx, world["volunteer"]) == (CREDITED, POINTS, 450, 50)
