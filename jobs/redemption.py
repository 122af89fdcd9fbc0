"""Scheduled work of the redemption desks: release unpicked reservations, reconcile each desk.

Both jobs are keyed by a local date (the period): `jobs.runner.run_period` runs a period
once, whatever the number of scheduler processes, and `catch_up` runs the days missed while
the service was down.  The reconciliation report is the job's stored result.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.runner import Job
from jobs.sealing import days_due
from ledger.people.access import SYSTEM_ACTOR
from ledger.redemption.reservations import release_unpicked
from ledger.redemption.stock import RECONCILE_JOB, reconcile_day
from ledger.store.uow import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

RELEASE_JOB = "release_reservations"


def release_day(ctx: Context, session: Session, period: str) -> dict:
    """Release every reservation whose opening day is `period` (or earlier) and not picked up."""
    return release_unpicked(session, dt.date.fromisoformat(period), actor=SYSTEM_ACTOR, today=ctx.today())


def reconcile(ctx: Context, session: Session, period: str) -> dict:
    """Each desk's redemptions in the ledger against its stock movements, for one day."""
    return reconcile_day(session, dt.date.fromisoformat(period))


JOBS = [
    Job(name=RELEASE_JOB, cron={"hour": 0, "minute": 20}, periods_due=days_due, work=release_day,
        description="release reservations not picked up on their opening day"),
    Job(name=RECONCILE_JOB, cron={"hour": 0, "minute": 30}, periods_due=days_due, work=reconcile,
        description="reconcile each desk's redemptions in the ledger against its stock movements"),
]
