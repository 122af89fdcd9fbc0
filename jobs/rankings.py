"""Scheduled rankings (评先评优) and targets reports, each keyed by its period.

Monthly rankings run on the 1st for the month before, quarterly ones on the 1st of the next
quarter, the year-end selection on 1 January; the targets report of a quarter runs on the 2nd
of the next quarter's first month, before it is due on the 5th.  `jobs.runner.run_period`
stores the (job, period) row with the work in one transaction, so a second run or a second
scheduler process does nothing, and a period missed while the service was down catches up
at start.  Each ranking run also has its own natural key (`scheduled:<definition>:<period>`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.runner import Job
from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.rankings import runs as rankings, targets
from ledger.store.uow import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CRON = {
    "month": {"day": 1, "hour": 2, "minute": 0},
    "quarter": {"month": "1,4,7,10", "day": 1, "hour": 2, "minute": 20},
    "year": {"month": 1, "day": 1, "hour": 2, "minute": 40},
}
JOB_NAMES = {"month": "rankings_monthly", "quarter": "rankings_quarterly", "year": "rankings_year_end"}


def rank_period(ctx: Context, session: Session, period_kind: str, period: str,
                root_unit_id: int | None = None) -> dict:
    """Run the newest version of every definition of a period kind for `period`."""
    runs = []
    for definition in rankings.definitions_due(session, period_kind, root_unit_id):
        run = rankings.run_ranking(session, SYSTEM, definition.id, period, ctx.today(), trigger="scheduled")
        runs.append({"definition": definition.code, "run_id": run["id"], "shortlisted": run["shortlisted"]})
    return {"period": period, "runs": runs}


def ranking_job(period_kind: str, *, name: str | None = None, root_unit_id: int | None = None) -> Job:
    """The scheduled job of one period kind (optionally only for definitions under one unit)."""
    return Job(name=name or JOB_NAMES[period_kind], cron=CRON[period_kind],
               periods_due=lambda local_now: [rankings.previous_period(period_kind, local_now.date())],
               work=lambda ctx, session, period: rank_period(ctx, session, period_kind, period, root_unit_id),
               description=f"commendation rankings (评先评优) of each finished {period_kind}")


def report_targets(ctx: Context, session: Session, period: str, unit_ids: list[int] | None = None) -> dict:
    """The targets report of `period` for every center (or the given units)."""
    if unit_ids is None:
        unit_ids = org.center_ids(session)
    reports = [targets.make_report(session, SYSTEM, unit_id, period, ctx.today(), trigger="scheduled")
               for unit_id in unit_ids]
    return {"period": period, "due_on": targets.due_on(period).isoformat(),
            "reports": [{"unit_id": r["unit_id"], "report_id": r["id"], "is_on_time": r["is_on_time"]}
                        for r in reports]}


def targets_job(*, name: str = "targets_quarterly", unit_ids: list[int] | None = None) -> Job:
    """The quarterly targets report, due by the 5th of the first month of the next quarter."""
    return Job(name=name, cron={"month": "1,4,7,10", "day": 2, "hour": 3, "minute": 0},
               periods_due=lambda local_now: [rankings.previous_period("quarter", local_now.date())],
               work=lambda ctx, session, period: report_targets(ctx, session, period, unit_ids),
               description="quarterly targets report (目标考核), due by the 5th")


JOBS = [ranking_job("month"), ranking_job("quarter"), ranking_job("year"), targets_job()]
