"""Running use cases: reads in a unit of work, writes idempotently in one that commits.

`write` is how every client write enters the ledger: the domain function receives the
session, checks and writes; `write` stores the result under the client's idempotency key
and commits once.  An error anywhere rolls the whole unit of work back.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.orm import Session

from ledger.store.idempotency import run_idempotent
from ledger.store.uow import Context


def read(ctx: Context, fn: Callable[[Session], Any]) -> Any:
    """Run a read in its own unit of work (nothing is committed)."""
    with ctx.uow() as uow:
        return fn(uow.session)


def write(ctx: Context, *, key: str | None, operation: str, request: Any,
          fn: Callable[[Session], dict]) -> tuple[dict, bool]:
    """Run a write once per idempotency key; returns (result, replayed)."""
    return run_idempotent(ctx, key=key, operation=operation, request=request,
                          work=lambda uow: fn(uow.session))


def write_once(ctx: Context, fn: Callable[[Session], Any]) -> Any:
    """Run an internal write (jobs, CLI) that has its own natural key, and commit."""
    with ctx.uow() as uow:
        result = fn(uow.session)
        uow.commit()
        return result
