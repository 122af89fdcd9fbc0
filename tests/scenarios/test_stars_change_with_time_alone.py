"""Stars that time alone grants or withdraws: the daily review (jobs/stars.py), dated the day
the condition became true, caught up after a week of downtime, once per day; both engines."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jobs.runner import catch_up, job_named, run_period
from ledger.incentives.policies import PublishPolicy, publish_policy
from ledger.incentives.tables import StarEvent
from ledger.people.access import SYSTEM
from ledger.service import bulk
from ledger.volunteer_view.lookup import volunteer_summary
from tests import factories as f


def _events(ctx, volunteer_id: int) -> list[tuple]:
    with ctx.uow() as uow:
        return [(e.occurred_on, e.level_before, e.level_after, e.reason) for e in uow.session.execute(
            select(StarEvent).where(StarEvent.volunteer_id == volunteer_id).order_by(StarEvent.id)).scalars()]


REGISTRATION = """
[policy]
name = "注册满一年"

[points]
per_hour = 10

[stars]
[[stars.levels]]
hours = 10
[[stars.levels]]
hours = 20
min_months_registered = 12
[[stars.levels]]
hours = 50
"""


def _world(ctx, document: str, registered_on: dt.date):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    with ctx.uow() as uow:
        publish_policy(uow.session, approver, PublishPolicy(units["center"], dt.date(2025, 1, 1), document))
        uow.commit()
    return units, recorder, approver, f.volunteer(ctx, units["station_a"], registered_on=registered_on)


def test_the_second_star_comes_on_the_day_of_twelve_months_after_a_week_of_downtime(ctx):
    """1 star at 10 h; 2 stars at 20 h and 12 months registered; 3 stars at 50 h.  Registered
    2025-07-15; 5 × 300 min = 25 h served in March 2026, in bulk: 1 star at posting (8 months).
    The service is down from 2026-07-13; at restart on 2026-07-20 the job catches up 07-13 …
    07-20: the second star is dated 2026-07-15.  Shown 2 stars; the third asks 50 h: 50 × 60 −
    1,500 = 1,500 minutes to go."""
    units, recorder, approver, volunteer_id = _world(ctx, REGISTRATION, dt.date(2025, 7, 15))
    days = [dt.date(2026, 3, 2) + dt.timedelta(days=n) for n in range(5)]
    services = [bulk.ApprovedService(volunteer_id, f.activity(ctx, units["station_a"], day),
                                     dt.datetime.combine(day, dt.time(8)), dt.datetime.combine(day, dt.time(13)),
                                     recorder.user_id) for day in days]
    with ctx.uow() as uow:
        bulk.post_approved(uow.session, approver, services, ctx.local_now())
        uow.commit()
    assert [e[:3] for e in _events(ctx, volunteer_id)] == [(dt.date(2026, 3, 3), 0, 1)]

    job = job_named("review_stars")
    catch_up(ctx, job, dt.datetime(2026, 7, 12, 1))  # the days up to 07-12: nothing changes
    assert len(_events(ctx, volunteer_id)) == 1
    done = catch_up(ctx, job, dt.datetime(2026, 7, 20, 1))  # a week of downtime: 07-13 … 07-20
    assert done == [f"2026-07-{day:02d}" for day in range(13, 21)]
    assert _events(ctx, volunteer_id)[-1] == (dt.date(2026, 7, 15), 1, 2, "daily star review 2026-07-15")
    assert catch_up(ctx, job, dt.datetime(2026, 7, 20, 2)) == []  # each day once
    assert run_period(ctx, job, "2026-07-16") is None
    assert len(_events(ctx, volunteer_id)) == 2
    with ctx.uow() as uow:
        summary = volunteer_summary(uow.session, SYSTEM, volunteer_id, dt.date(2026, 7, 20))
    assert (summary["star_level"], summary["minutes_to_next_star"]) == (2, 1500)


MONTHLY = """
[policy]
name = "按月服务星级"

[points]
per_hour = 10

[stars]
[[stars.levels]]
hours = 10
served_each_of_last_months = 3
"""


def test_a_star_that_asks_monthly_service_is_granted_then_withdrawn_by_the_calendar(ctx):
    """1 star at 10 h with service in each of the last 3 months.  4 h in each of January, February
    and March 2026 (12 h).  At posting in March: 0 (December missing).  2026-04-01: January,
    February, March -> 1 star.  No service in April: 2026-05-01 asks February-April -> 0."""
    units, recorder, approver, volunteer_id = _world(ctx, MONTHLY, dt.date(2024, 1, 1))
    for month in (1, 2, 3):
        day = dt.date(2026, month, 10)
        f.served(ctx, recorder, approver, volunteer_id, f.activity(ctx, units["station_a"], day),
                 dt.datetime.combine(day, dt.time(9)), 240)
    assert _events(ctx, volunteer_id) == []
    job = job_named("review_stars")
    for day in ("2026-03-31", "2026-04-01", "2026-04-30", "2026-05-01"):
        run_period(ctx, job, day)
    assert [(e[0], e[1], e[2]) for e in _events(ctx, volunteer_id)] == [
        (dt.date(2026, 4, 1), 0, 1), (dt.date(2026, 5, 1), 1, 0)]
