"""Monthly point expiry: on the 1st, points whose last day has passed expire, oldest first.

The period is the month ("2027-01"); points that ended before its first day expire.  With
the default policy (points earned in a year last until the end of the following year) only
January finds anything; a policy with `expiry.rule = "months"` uses every month.  Each
period runs once (jobs/runner.py) and each volunteer's expiry is keyed by period.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.runner import Job
from ledger.incentives.expiry import expire_points
from ledger.store.uow import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CATCH_UP_MONTHS = 3


def months_due(local_now: dt.datetime) -> list[str]:
    """This month and the two before it, oldest first ("2026-09", "2026-10", "2026-11")."""
    index = local_now.year * 12 + local_now.month - 1
    return [f"{(index - n) // 12:04d}-{(index - n) % 12 + 1:02d}" for n in range(CATCH_UP_MONTHS - 1, -1, -1)]


def period_start(period: str) -> dt.date:
    """The first day of a "YYYY-MM" period."""
    year, month = period.split("-")
    return dt.date(int(year), int(month), 1)


def expire_month(ctx: Context, session: Session, period: str) -> dict:
    """Expire every volunteer's points that ended before the first day of `period`."""
    return expire_points(session, period_start(period), period, actor="job:expire_points")


JOBS = [Job(name="expire_points", cron={"day": 1, "hour": 0, "minute": 30}, periods_due=months_due,
            work=expire_month, description="expire points past their last day, oldest first")]
