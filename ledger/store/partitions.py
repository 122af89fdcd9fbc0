"""Monthly partitions of the ledger (PostgreSQL declarative partitioning by business date).

`postings` (revision 0013) and `transactions` (revision 0015) are partitioned by month of
`occurred_on` on PostgreSQL: one partition per month of each, created ahead of need by the `create_partitions` job (three months
ahead) and, for back-dated data loaded in bulk, by the bulk path for the months a batch
writes; a DEFAULT partition takes anything else, so a posting is never refused for want of
a partition.  A month whose rows already sit in the DEFAULT partition is left there (a new
partition cannot be carved out of the default while it holds rows of that month, and
posted rows never move): queries stay correct, they only prune less.  On SQLite, and for
tables that are not partitioned, every function here does nothing.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

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


def _dialect(session) -> str:
    dialect = getattr(session, "dialect", None) or session.get_bind().dialect
    return dialect.name


def is_partitioned(session: Session | Connection, table: str, schema: str = "public") -> bool:
    """True when `schema.table` is a partitioned table (never on SQLite)."""
    if _dialect(session) != "postgresql":
        return False
    return bool(session.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = :t AND n.nspname = :s"),
        {"t": table, "s": schema}).first())


def _default_partition(session: Session, table: str, schema: str) -> str | None:
    return session.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE p.relname = :t AND n.nspname = :s AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"),
        {"t": table, "s": schema}).scalar()


def ensure_months(session: Session | Connection, months: Iterable[dt.date], schema: str = "public",
                  tables: tuple[str, ...] = TABLES) -> list[str]:
    """Create the partitions of these months (first days) where missing; returns those made."""
    if not _NAME.match(schema) or not all(_NAME.match(t) for t in tables):
        raise ValueError("schema and table names are plain identifiers")
    wanted = sorted({month_start(m) for m in months})
    made: list[str] = []
    for table in tables:
        if not wanted or not is_partitioned(session, table, schema):
            continue
        default = _default_partition(session, table, schema)
        for month in wanted:
            name = partition_name(table, month)
            if session.execute(text("SELECT to_regclass(:n)"), {"n": f"{schema}.{name}"}).scalar() is not None:
                continue
            lo, hi = month.isoformat(), month_start(month, 1).isoformat()
            if default and session.execute(text(
                    f'SELECT 1 FROM "{schema}"."{default}" WHERE occurred_on >= :lo AND occurred_on < :hi LIMIT 1'),
                    {"lo": lo, "hi": hi}).first():
                continue  # that month's rows are in the default partition: they stay there
            session.execute(text(f'CREATE TABLE "{schema}"."{name}" PARTITION OF "{schema}"."{table}" '
                                 f"FOR VALUES FROM ('{lo}') TO ('{hi}')"))
            made.append(f"{schema}.{name}")
    return made


def ensure_partitions(session: Session, first: dt.date, last: dt.date, schema: str = "public",
                      tables: tuple[str, ...] = TABLES) -> list[str]:
    """Create every missing monthly partition from `first`'s month to `last`'s; returns those made."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = month_start(month, 1)
    return ensure_months(session, months, schema, tables)


def prepare_months(engine: Engine, months: Iterable[dt.date]) -> list[str]:
    """Before a bulk load: create the partitions of its months, in a short transaction of its own.

    Creating a partition locks the partitioned table, so it is not done inside the load's
    transaction (every other writer would wait for the whole load); an advisory lock keeps
    two loaders from creating the same month at once.  Does nothing on SQLite or where
    neither `transactions` nor `postings` is partitioned.
    """
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        missing = [m for m in sorted({month_start(m) for m in months})
                   if any(conn.execute(text("SELECT to_regclass(:n)"),
                                       {"n": partition_name(table, m)}).scalar() is None for table in TABLES)]
        if not missing or not any(is_partitioned(conn, table) for table in TABLES):
            conn.rollback()
            return []
        # never wait long: if the caller's own transaction already wrote postings, it holds a
        # lock this one would wait for forever; the batch's rows then go to the DEFAULT partition
        conn.execute(text("SET LOCAL lock_timeout = '2s'"))
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('ledger_partitions'))"))
            made = ensure_months(conn, missing)
        except OperationalError:  # lock_timeout: correct either way, it only prunes less
            conn.rollback()
            return []
        conn.commit()
        return made


def refresh_statistics(session: Session | Connection, schema: str = "public") -> list[str]:
    """ANALYZE the partitioned tables themselves (autovacuum analyzes only their partitions,
    so without this the planner guesses the parent's row counts); returns the tables analyzed."""
    if not _NAME.match(schema):
        raise ValueError("the schema name is a plain identifier")
    done = []
    for table in TABLES:
        if is_partitioned(session, table, schema):
            session.execute(text(f'ANALYZE "{schema}"."{table}"'))
            done.append(f"{schema}.{table}")
    return done
