"""Daily star review (星级复核): star conditions that change with time alone, once a day.

The period is the day ("2026-07-01").  Days missed while the service was down are caught up
in order (up to `CATCH_UP_DAYS`), so that a change is dated the day its condition became true.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.runner import Job
from ledger.incentives.star_review import review_stars
from ledger.store.uow import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CATCH_UP_DAYS = 14


def days_due(local_now: dt.datetime) -> list[str]:
    """Today and the days before it, oldest first (two weeks: a week of downtime is caught up)."""
    today = local_now.date()
    return [(today - dt.timedelta(days=back)).isoformat() for back in range(CATCH_UP_DAYS - 1, -1, -1)]


def review_day(ctx: Context, session: Session, period: str) -> dict:
    """Record the star changes that hold on the period's day."""
    return review_stars(session, dt.date.fromisoformat(period))


JOBS = [Job(name="review_stars", cron={"hour": 0, "minute": 10}, periods_due=days_due, work=review_day,
            description="daily star review: levels that time alone grants or withdraws")]
