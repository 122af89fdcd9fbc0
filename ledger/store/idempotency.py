"""Idempotent writes: a retry with the same key returns the first result, never a second post.

The key, a fingerprint of the request and the result are stored in the same database
transaction as the write itself; the key is claimed first, so of two concurrent requests
with one key, one does the work and commits, the other waits on the key, finds it taken,
and returns the stored result without doing the work.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.errors import IdempotencyConflict, ValidationFailed
from ledger.store.tables import IdempotencyKey, utcnow
from ledger.store.uow import Context, UnitOfWork


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
    """Run `work` once per key; returns (result, replayed). `work` must not commit.

    One database transaction: claim the key (INSERT ... ON CONFLICT DO NOTHING), do the
    work, store its result, commit.  When the key is already taken, the claim inserts
    nothing (on PostgreSQL it first waits for a concurrent holder of the key to finish)
    and the stored result is returned instead, checked against this request's fingerprint.
    """
    if not key or len(key) > 200:
        raise ValidationFailed("an Idempotency-Key (1–200 characters) is required for every write",
                               field="Idempotency-Key")
    digest = fingerprint(operation, request)
    with ctx.uow() as uow:
        session = uow.session
        if not _claim(session, key, operation, digest):
            return _stored(session, key, digest), True
        result = work(uow)
        session.connection().execute(_SET_RESULT, {"claimed": key, "result": result})
        uow.commit()
        return result, False


def _claim(session: Session, key: str, operation: str, digest: str) -> bool:
    """Insert the key with an empty result; False when it is already there."""
    stmt = _CLAIM[session.get_bind().dialect.name]
    return session.connection().execute(stmt, {"key": key, "operation": operation, "request_hash": digest,
                                               "result": {}, "created_at": utcnow()}).first() is not None


_CLAIM = {name: (upsert(IdempotencyKey.__table__).on_conflict_do_nothing(index_elements=["key"])
                 .returning(IdempotencyKey.__table__.c.key))
          for name, upsert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}
_SET_RESULT = (update(IdempotencyKey.__table__).where(IdempotencyKey.__table__.c.key == bindparam("claimed"))
               .values(result=bindparam("result")))


def _stored(session: Session, key: str, digest: str) -> dict:
    row = session.execute(select(IdempotencyKey.request_hash, IdempotencyKey.result)
                          .where(IdempotencyKey.key == key)).one()
    if row.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request",
            field="Idempotency-Key",
        )
    return row.result
