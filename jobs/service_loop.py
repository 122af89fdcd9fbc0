"""Scheduled work of the service loop: orders past their take-up deadline, sign-outs never made.

`orders_overdue` runs per local hour ("2026-11-09T10", the hour that has ended): every order
dispatched and not taken by the end of that hour goes back to the dispatcher's queue with an
`overdue` step.  `sign_outs_missing` runs per local day: every sign-in older than twelve hours
at the end of that day without a sign-out is flagged for the organiser (nothing is posted).
Both are keyed by period (`jobs.runner.run_period`) and their use cases do nothing twice.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.runner import Job
from jobs.sealing import days_due
from ledger.service.checkin import flag_missing_sign_outs
from ledger.service.orders import mark_overdue
from ledger.store.uow import CHINA, Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CATCH_UP_HOURS = 6


def hours_due(local_now: dt.datetime) -> list[str]:
    """The hours that have ended, the last few, oldest first ("2026-11-09T09")."""
    this_hour = local_now.replace(minute=0, second=0, microsecond=0)
    return [(this_hour - dt.timedelta(hours=n)).strftime("%Y-%m-%dT%H") for n in range(CATCH_UP_HOURS, 0, -1)]


def hour_end(period: str) -> dt.datetime:
    """The end of a local hour period, timezone-aware."""
    return dt.datetime.strptime(period, "%Y-%m-%dT%H").replace(tzinfo=CHINA) + dt.timedelta(hours=1)


def overdue_orders(ctx: Context, session: Session, period: str) -> dict:
    """Orders whose take-up deadline passed by the end of the hour go back to be dispatched."""
    return {"overdue": mark_overdue(session, hour_end(period), actor="job:orders_overdue")}


def missing_sign_outs(ctx: Context, session: Session, period: str) -> dict:
    """Flag the sign-ins with no sign-out, as of the end of the day."""
    end = dt.datetime.combine(dt.date.fromisoformat(period) + dt.timedelta(days=1), dt.time(), tzinfo=CHINA)
    return {"flagged": flag_missing_sign_outs(session, end, end.replace(tzinfo=None))}


JOBS = [
    Job(name="orders_overdue", cron={"minute": 5}, periods_due=hours_due, work=overdue_orders,
        description="orders dispatched and not taken by their deadline go back to be dispatched"),
    Job(name="sign_outs_missing", cron={"hour": 0, "minute": 40}, periods_due=days_due, work=missing_sign_outs,
        description="flag sign-ins never followed by a sign-out"),
]
