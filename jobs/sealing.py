"""Daily seal: a checkpoint over the previous day's transactions, chained to the one before."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.runner import Job
from ledger.book.integrity import seal_period
from ledger.store.uow import CHINA, Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CATCH_UP_DAYS = 7


def days_due(local_now: dt.datetime) -> list[str]:
    """The last week's days, oldest first (yesterday is the newest that can be sealed)."""
    today = local_now.date()
    return [(today - dt.timedelta(days=n)).isoformat() for n in range(CATCH_UP_DAYS, 0, -1)]


def seal_day(ctx: Context, session: Session, period: str) -> dict:
    """Seal every transaction recorded before the end of `period` (a local date)."""
    day = dt.date.fromisoformat(period)
    until = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=CHINA)
    checkpoint = seal_period(session, period, until)
    return {"period": period, "tx_count": checkpoint.tx_count, "hash": checkpoint.hash}


JOBS = [Job(name="seal_day", cron={"hour": 0, "minute": 10}, periods_due=days_due, work=seal_day,
            description="seal the previous day's transactions with a chained checkpoint")]
