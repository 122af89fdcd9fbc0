"""Idempotent writes: a retry with the same key returns the first result, never a second post.

The key, a fingerprint of the request and the result are stored in the same database
transaction as the write itself; the key is claimed first, so of two concurrent requests
with one key, one does the work and commits, the other waits on the key, hits the unique
key, rolls back, and returns the stored result.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from sqlalchemy.exc import IntegrityError

from ledger.errors import IdempotencyConflict, ValidationFailed
from ledger.tables import IdempotencyKey
from ledger.uow import Context, UnitOfWork


def fingerprint(operation: str, request: Any) -> str:
    """A stable hash of an operation and its request body."""
    text = json.dumps({"op": operation, "request": request}, sort_keys=True, default=str,
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_idempotent(
    ctx: Context,
    *,
    key: str | None,
    operation: str,
    request: Any,
    work: Callable[[UnitOfWork], dict],
) -> tuple[dict, bool]:
    """Run `work` once per key; returns (result, replayed). `work` must not commit."""
    if not key or len(key) > 200:
        raise ValidationFailed("an Idempotency-Key (1–200 characters) is required for every write",
                               field="Idempotency-Key")
    digest = fingerprint(operation, request)
    stored = _stored(ctx, key, digest)
    if stored is not None:
        return stored, True
    try:
        with ctx.uow() as uow:
            # Claim the key before the work: a concurrent request with the same key waits on
            # this row (PostgreSQL) or on the write lock (SQLite), then hits the unique key
            # and returns our stored result instead of running the work a second time.
            claim = IdempotencyKey(key=key, operation=operation, request_hash=digest, result={})
            uow.session.add(claim)
            uow.session.flush()
            result = work(uow)
            claim.result = result
            uow.commit()
            return result, False
    except IntegrityError:
        stored = _stored(ctx, key, digest)
        if stored is not None:  # a concurrent request with this key won the race
            return stored, True
        raise


def _stored(ctx: Context, key: str, digest: str) -> dict | None:
    with ctx.uow() as uow:
        row = uow.session.get(IdempotencyKey, key)
        if row is None:
            return None
        if row.request_hash != digest:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different request",
                field="Idempotency-Key",
            )
        return row.result
