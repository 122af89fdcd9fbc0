"""Idempotent writes: a retry with the same key returns the first result, never a second post.

The key, a fingerprint of the request, the principal and the result are stored in the same
database transaction as the write itself; the key is claimed first, so of two concurrent
requests with one key, one does the work and commits, the other waits on the key, finds it
taken, and returns the stored result without doing the work.

A stored result belongs to the principal who wrote it: another principal sending the same key
(and the same body) gets 409 and never the result.  The principal of a replay has passed
authentication again on this request (token neither expired nor revoked, user not disabled).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Protocol

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
    principal: str = "anonymous",
) -> tuple[dict, bool]:
    """Run `work` once per key; returns (result, replayed). `work` must not commit.

    One database transaction: claim the key (INSERT ... ON CONFLICT DO NOTHING), do the
    work, store its result, commit.  When the key is already taken, the claim inserts
    nothing (on PostgreSQL it first waits for a concurrent holder of the key to finish)
    and the stored result is returned instead, checked against this request's principal and
    fingerprint.  `principal` names whose write it is (`principal_key`).
    """
    if not key or len(key) > 200:
        raise ValidationFailed("每次写入都需要 Idempotency-Key 请求头（1–200 个字符）",
                               field="Idempotency-Key")
    digest = fingerprint(operation, request)
    with ctx.uow() as uow:
        session = uow.session
        if not _claim(session, key, operation, digest, principal):
            return _stored(session, key, digest, principal), True
        result = work(uow)
        session.connection().execute(_SET_RESULT, {"claimed": key, "result": result})
        uow.commit()
        return result, False


class Actor(Protocol):
    """Whoever a write is for (a `people.access.Principal`; the store does not import it)."""

    user_id: int | None
    username: str


def principal_key(principal: Actor | None) -> str:
    """How a principal is named on its idempotency keys: its user id, or the system's name."""
    if principal is None:
        return "anonymous"
    return f"user:{principal.user_id}" if principal.user_id is not None else f"system:{principal.username}"


def _claim(session: Session, key: str, operation: str, digest: str, principal: str) -> bool:
    """Insert the key with an empty result; False when it is already there."""
    stmt = _CLAIM[session.get_bind().dialect.name]
    return session.connection().execute(stmt, {"key": key, "operation": operation, "request_hash": digest,
                                               "result": {}, "created_at": utcnow(),
                                               "principal": principal}).first() is not None


_CLAIM = {name: (upsert(IdempotencyKey.__table__).on_conflict_do_nothing(index_elements=["key"])
                 .returning(IdempotencyKey.__table__.c.key))
          for name, upsert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}
_SET_RESULT = (update(IdempotencyKey.__table__).where(IdempotencyKey.__table__.c.key == bindparam("claimed"))
               .values(result=bindparam("result")))


def _stored(session: Session, key: str, digest: str, principal: str) -> dict:
    row = session.execute(select(IdempotencyKey.request_hash, IdempotencyKey.result, IdempotencyKey.principal)
                          .where(IdempotencyKey.key == key)).one()
    if row.principal != principal:  # checked first: another principal learns nothing of the request
        raise IdempotencyConflict("此 Idempotency-Key 已被其他用户使用，请为这次写入换一个新的键",
                                  field="Idempotency-Key")
    if row.request_hash != digest:
        raise IdempotencyConflict("此 Idempotency-Key 已用于另一个不同的请求，请换一个新的键",
                                  field="Idempotency-Key")
    return row.result
