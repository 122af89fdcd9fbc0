"""Monthly partitions of the ledger, created ahead of need (PostgreSQL declarative partitioning).

Where `transactions` and `postings` are partitioned by business date (`occurred_on`, range),
a row whose month has no partition would be refused; this job creates each month's partition
`months_ahead` months before it is needed, on the 1st of every month, and catches up at start.
On SQLite, or where the tables are not partitioned (the default schema today; see
docs/scaling.md for the migration path), it does nothing and says so.
"""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from jobs.runner import Job
from ledger.uow import Context

TABLES = ("transactions", "postings")
MONTHS_AHEAD = 3
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def month_start(day: dt.date, months: int = 0) -> dt.date:
    """The first day of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    """`postings_y2026m11`: the partition of one month."""
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def is_partitioned(session: Session, table: str, schema: str = "public") -> bool:
    """True when `schema.table` is a partitioned table (never on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return bool(session.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = :t AND n.nspname = :s"),
        {"t": table, "s": schema}).first())


def ensure_partitions(session: Session, first: dt.date, last: dt.date, schema: str = "public",
                      tables: tuple[str, ...] = TABLES) -> list[str]:
    """Create every missing monthly partition from `first`'s month to `last`'s; returns those made."""
    if not _NAME.match(schema) or not all(_NAME.match(t) for t in tables):
        raise ValueError("schema and table names are plain identifiers")
    made = []
    for table in tables:
        if not is_partitioned(session, table, schema):
            continue
        month = month_start(first)
        while month <= last:
            name = partition_name(table, month)
            exists = session.execute(text("SELECT to_regclass(:n)"), {"n": f"{schema}.{name}"}).scalar()
            if exists is None:
                session.execute(text(
                    f'CREATE TABLE "{schema}"."{name}" PARTITION OF "{schema}"."{table}" '
                    f"FOR VALUES FROM ('{month.isoformat()}') TO ('{month_start(month, 1).isoformat()}')"))
                made.append(f"{schema}.{name}")
            month = month_start(month, 1)
    return made


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
    return {"period": period, "partitioned": True, "created": made}


JOBS = [Job(name="create_partitions", cron={"day": 1, "hour": 1, "minute": 0}, periods_due=months_due,
            work=create_ahead,
            description="create the ledger's monthly partitions three months ahead (partitioned PostgreSQL)")]
