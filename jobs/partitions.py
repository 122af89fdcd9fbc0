"""Monthly partitions of the ledger, created ahead of need (PostgreSQL declarative partitioning).

Where `transactions` and `postings` are partitioned by business date (`occurred_on`, range),
a row whose month has no partition would be refused; this job creates each month's partition
`months_ahead` months before it is needed, on the 1st of every month, and catches up at start.
Both are partitioned on PostgreSQL (`postings` by revision 0013, `transactions` by 0015).
On SQLite it does nothing and says so.  The work itself is
`ledger.partitions`.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.runner import Job
from ledger.store.partitions import (
    MONTHS_AHEAD,
    TABLES,
    ensure_partitions,
    is_partitioned,
    month_start,
    refresh_statistics,
)
from ledger.store.uow import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def months_due(local_now: dt.datetime) -> list[str]:
    """This month (the run of the 1st creates the partitions of the months ahead)."""
    return [local_now.strftime("%Y-%m")]


def create_ahead(ctx: Context, session: Session, period: str) -> dict:
    """Create the partitions from `period`'s month to MONTHS_AHEAD months after it."""
    schema = ctx.options.get("partition_schema", "public")
    month = dt.date.fromisoformat(f"{period}-01")
    if not any(is_partitioned(session, table, schema) for table in TABLES):
        return {"period": period, "partitioned": False, "created": []}
    made = ensure_partitions(session, month, month_start(month, MONTHS_AHEAD), schema)
    analyzed = refresh_statistics(session, schema)
    return {"period": period, "partitioned": True, "created": made, "analyzed": analyzed}


JOBS = [Job(name="create_partitions", cron={"day": 1, "hour": 1, "minute": 0}, periods_due=months_due,
            work=create_ahead,
            description="create the ledger's monthly partitions three months ahead (partitioned PostgreSQL)")]
