"""Batch SQL for the bulk paths: many ids per statement, COPY, ids allocated up front.

`in_ids` runs a statement over thousands of ids (one array on PostgreSQL, chunks under
SQLite's limit on bound variables); `copy_rows` appends rows (COPY, or executemany);
`allocate_ids` takes a batch's ids before its rows are written.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

from sqlalchemy import Date, DateTime, bindparam, text
from sqlalchemy.orm import Session

from ledger.store.db import Base

CHUNK = 5000  # ids per IN (...) list: under SQLite's limit on bound variables


def chunks(values: Iterable, size: int = CHUNK):
    """`values` in lists of at most `size`."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def in_ids(session: Session, sql: str, ids: Iterable[int], **params) -> list:
    """Run `sql` (with `IN (:ids)` for a list of integers) over the ids; all rows, as tuples.

    PostgreSQL: one statement, the ids as one array, on the driver's cursor (thousands of
    rows without SQLAlchemy's per-row work).  SQLite: chunks under its limit on variables.
    """
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # integer[] as the columns are: a bigint[] against an integer column is searched
        # element by element for each row (no hashed lookup for the cross-type operator)
        query = sql.replace("IN (:ids)", "= ANY(CAST(%(ids)s AS integer[]))")
        for name in params:
            query = query.replace(f":{name}", f"%({name})s")
        with driver_cursor(session) as cursor:
            cursor.execute(query, {**params, "ids": int_array(ids)})
            return cursor.fetchall()
    rows: list = []
    typed = [bindparam(name, value, type_=DateTime() if isinstance(value, dt.datetime) else
                       Date() if isinstance(value, dt.date) else None) for name, value in params.items()]
    for chunk in chunks(ids):
        marks = ",".join(str(i) for i in chunk)  # integers only: safe to inline
        rows.extend(session.execute(text(sql.replace(":ids", marks)).bindparams(*typed)).all())
    return rows


def driver_cursor(session: Session):
    """A cursor of the driver's connection, in the session's transaction (PostgreSQL)."""
    return session.connection().connection.driver_connection.cursor()


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers ('{1,2,3}'): cheaper to send than a list."""
    return "{" + ",".join(map(str, values)) + "}"


def allocate_ids(session: Session, table: str, count: int) -> list[int]:
    """`count` fresh ids of `table`, ascending (a sequence on PostgreSQL, max+1 on SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE holds SQLite's write lock: nobody else can take these ids
        top = session.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
        return list(range(top + 1, top + 1 + count))
    sequence = session.execute(text(f"SELECT pg_get_serial_sequence('{table}', 'id')")).scalar_one()
    ids = session.execute(text("SELECT string_agg(nextval(CAST(:seq AS regclass))::text, ',') "
                               "FROM generate_series(1, :n)"), {"seq": sequence, "n": count}).scalar_one()
    return sorted(map(int, ids.split(",")))


def column_types(session: Session, tables: list[tuple[str, Sequence[str]]]) -> dict[str, list[int]]:
    """The type oids of the columns a binary COPY writes, as the schema has them now."""
    with driver_cursor(session) as cursor:
        cursor.execute("SELECT c.relname, a.attname, a.atttypid FROM pg_attribute a "
                       "JOIN pg_class c ON c.oid = a.attrelid "
                       "WHERE a.attrelid = ANY(CAST(%s AS regclass[])) AND a.attnum > 0 AND NOT a.attisdropped",
                       ("{" + ",".join(table for table, _ in tables) + "}",))
        oids = {(table, column): oid for table, column, oid in cursor.fetchall()}
    return {table: [oids[(table, column)] for column in columns] for table, columns in tables}


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Append many rows to a table: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if session.get_bind().dialect.name == "sqlite":
        # through SQLAlchemy, which stores dates and times the way it reads them back
        session.execute(Base.metadata.tables[table].insert(), [dict(zip(columns, row)) for row in rows])
        return
    with session.connection().connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
