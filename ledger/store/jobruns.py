"""Job runs: the (job, period) row that makes a scheduled job run once per period.

The work and its row are written in one database transaction; the unique key on (job,
period) means a second run, in this process or another, writes nothing.  The scheduler
(jobs/) decides when; this module keeps the record.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.store.tables import JobRun, utcnow
from ledger.store.uow import UnitOfWork


def claim(session: Session, job: str, period: str) -> JobRun | None:
    """Take the (job, period) row in this transaction, or None when the period ran (or runs) elsewhere."""
    if session.execute(select(JobRun.id).where(JobRun.job == job, JobRun.period == period)).first():
        return None
    run = JobRun(job=job, period=period)
    session.add(run)
    try:
        session.flush()  # takes the unique key first: a concurrent run waits or fails here
    except IntegrityError:
        return None
    return run


def finish(uow: UnitOfWork, run: JobRun, result: dict) -> bool:
    """Store the run's result and commit it with the work; False when another run won the period."""
    run.result, run.finished_at = result, utcnow()
    try:
        uow.commit()
    except IntegrityError:
        return False
    return True


def finished_run(session: Session, job: str, period: str) -> JobRun | None:
    """The finished run of `job` for `period`, or None when it has not run (or not finished)."""
    run = session.execute(select(JobRun).where(JobRun.job == job, JobRun.period == period)).scalar_one_or_none()
    return run if run is not None and run.finished_at is not None else None
