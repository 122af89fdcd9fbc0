"""Running use cases: reads in a unit of work, writes idempotently in one that commits.

`write` is how every client write enters the ledger: the domain function receives the
session, checks and writes; `write` stores the result under the client's idempotency key
and commits once.  An error anywhere rolls the whole unit of work back.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.orm import Session

from ledger.store.idempotency import Actor, principal_key, run_idempotent
from ledger.store.uow import Context


def read(ctx: Context, fn: Callable[[Session], Any]) -> Any:
    """Run a read in its own unit of work (nothing is committed); see `read_autocommit` for lookups."""
    with ctx.uow() as uow:
        return fn(uow.session)

def read_autocommit(ctx: Context, fn: Callable[[Session], Any]) -> Any:
    """Run a read of one or two statements (a volunteer's lookups and the token check) on its own.

    The second read mode, beside `read`, for the most frequent requests (`volunteer_view.lookup`).

    On PostgreSQL the connection runs in autocommit: each statement is its own snapshot and
    nothing else goes over the wire, no BEGIN before nor COMMIT/ROLLBACK after.  A summary is
    one statement and a history page one (two with the token check), so a lookup is one or
    two round trips instead of three or four.  It also keeps the statements prepared: psycopg
    3 forgets every statement it prepared on a connection at a ROLLBACK (and sends DEALLOCATE
    ALL), so a read ended that way (`read`) is planned anew on every request: 3-20 ms
    for the history page once postings are partitioned by month.  On SQLite (where a
    transaction starts as BEGIN IMMEDIATE) the lookup runs in a unit of work ended by COMMIT.
    Nothing is written either way.
    """
    if ctx.is_sqlite:
        with ctx.uow() as uow:
            result = fn(uow.session)
            uow.commit()
            return result
    with ctx.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        with Session(bind=connection, autoflush=False, expire_on_commit=False) as session:
            return fn(session)


def read_standby(ctx: Context, fn: Callable[[Session], Any], *,
                 fallback: Callable[[Context, Callable[[Session], Any]], Any] = read) -> Any:
    """A read the hot standby may serve (figures, history, certificates, reports), with the
    reader's own writes visible (`store.replica`); without a standby, `fallback` runs it."""
    if not ctx.replica.enabled:
        return fallback(ctx, fn)
    return ctx.replica.read(fn)


def write(ctx: Context, *, key: str | None, operation: str, request: Any,
          fn: Callable[[Session], dict], principal: Actor | None = None) -> tuple[dict, bool]:
    """Run a write once per idempotency key; returns (result, replayed) — a replay only to the
    same `principal` (None: no signed-in principal: a public route, a test)."""
    result = run_idempotent(ctx, key=key, operation=operation, request=request,
                            work=lambda uow: fn(uow.session), principal=principal_key(principal))
    ctx.replica.note_write()
    return result


def write_once(ctx: Context, fn: Callable[[Session], Any]) -> Any:
    """Run an internal write (jobs, CLI) that has its own natural key, and commit."""
    with ctx.uow() as uow:
        result = fn(uow.session)
        uow.commit()
        return result
