"""Checkpoints: a period's transactions sealed by a hash chained to the previous seal, signed.

`seal_period` closes a period: a hash over the ids and content hashes of the period's
transactions (`hashing.chain_hash`), chained to the previous checkpoint, signed with the
deployment's Ed25519 key (`keys.py`: never in the database).  A `rehash` checkpoint (written
when the content hashes are made anew under another ledger key, `rehash.py`) seals every
transaction from the first one: the checkpoints before it sealed the old hashes, and verify
checks the chain from the newest `rehash` checkpoint on.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book import deployment_keys
from ledger.book.hashing import chain_hash
from ledger.book.keys import KeysMissing, book_keys
from ledger.book.postings import ledger_position
from ledger.book.problems import checkpoint_problem, signature_problem
from ledger.book.tables import Checkpoint, Transaction

GENESIS = "0" * 64
BATCH = 5000
SEAL, REHASH = "seal", "rehash"
SIGNED_PREFIX = b"ledger-checkpoint/1\n"


@dataclass
class Sealed:
    """A checkpoint's fields as verify reads them."""

    id: int
    period: str
    kind: str
    note: str
    first_tx_id: int
    last_tx_id: int
    tx_count: int
    prev_hash: str
    hash: str
    signature: str | None


def signed_bytes(checkpoint) -> bytes:
    """The bytes a checkpoint's signature covers: every field but its id and the signature."""
    fields = {name: getattr(checkpoint, name) for name in
              ("period", "kind", "note", "first_tx_id", "last_tx_id", "tx_count", "prev_hash", "hash")}
    fields.update(first_tx_id=int(fields["first_tx_id"]), last_tx_id=int(fields["last_tx_id"]),
                  tx_count=int(fields["tx_count"]))
    return SIGNED_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def is_signed_by(checkpoint, public_keys) -> bool:
    """True when the checkpoint carries a signature of its fields by one of these keys."""
    if not checkpoint.signature:
        return False
    data = signed_bytes(checkpoint)
    return any(deployment_keys.signature_is_valid(key, data, checkpoint.signature) for key in public_keys)


def append_checkpoint(session: Session, *, period: str, kind: str, note: str, first_tx_id: int, last_tx_id: int,
                      tx_count: int, prev_hash: str, hash: str) -> Checkpoint:
    """Add a checkpoint, signed with this deployment's key."""
    signing = book_keys(session).signing_key
    if signing is None:
        raise KeysMissing("没有部署签名密钥，无法封存 (no deployment signing key: cannot seal)")
    checkpoint = Checkpoint(period=period, kind=kind, note=note, first_tx_id=first_tx_id, last_tx_id=last_tx_id,
                            tx_count=tx_count, prev_hash=prev_hash, hash=hash)
    checkpoint.signature = deployment_keys.sign(signing, signed_bytes(checkpoint))
    session.add(checkpoint)
    session.flush()
    return checkpoint


def last_checkpoint(session: Session) -> Checkpoint | None:
    """The newest checkpoint, if any."""
    return session.execute(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).scalar_one_or_none()


def seal_period(session: Session, period: str, until: dt.datetime) -> Checkpoint:
    """Seal every unsealed transaction recorded before `until` under the label `period`."""
    existing = session.execute(select(Checkpoint).where(Checkpoint.period == period)).scalar_one_or_none()
    if existing is not None:
        return existing
    last = last_checkpoint(session)
    after = last.last_tx_id if last else 0
    prev_hash = last.hash if last else GENESIS
    rows = [(int(i), h) for i, h in session.execute(
        select(Transaction.id, Transaction.content_hash)
        .where(Transaction.id > after, Transaction.recorded_at < until).order_by(Transaction.id))]
    return append_checkpoint(session, period=period, kind=SEAL, note="", first_tx_id=rows[0][0] if rows else after,
                             last_tx_id=rows[-1][0] if rows else after, tx_count=len(rows), prev_hash=prev_hash,
                             hash=chain_hash(prev_hash, rows))


def check_chain(checkpoints: list[Sealed], public_keys, matches) -> tuple[int, dict | None]:
    """Walk the chain from the newest `rehash` checkpoint (else the first): each checkpoint
    chained to the one before, signed by one of `public_keys`, and `matches(checkpoint,
    prev_hash, after)` true; returns (checkpoints counted up to the first problem, the problem or None)."""
    start = max((n for n, c in enumerate(checkpoints) if c.kind == REHASH), default=0)
    for n in range(start, len(checkpoints)):
        checkpoint, before = checkpoints[n], checkpoints[n - 1] if n else None
        prev_hash = before.hash if before else GENESIS
        after = 0 if checkpoint.kind == REHASH or before is None else before.last_tx_id
        if not matches(checkpoint, prev_hash, after):
            return n + 1, checkpoint_problem(checkpoint.id, checkpoint.period)
        if not is_signed_by(checkpoint, public_keys):
            return n + 1, signature_problem(checkpoint.id, checkpoint.period)
    return len(checkpoints), None


def all_checkpoints(session: Session) -> list[Sealed]:
    """Every checkpoint, in id order."""
    return [Sealed(**{name: getattr(c, name) for name in Sealed.__dataclass_fields__})
            for c in session.execute(select(Checkpoint).order_by(Checkpoint.id)).scalars()]


def checkpoint_matches(conn, checkpoint, prev_hash: str, after: int) -> bool:
    """Recompute one checkpoint's hash in Python, streaming its transactions' ids and hashes."""
    digest, count = hashlib.sha256(prev_hash.encode()), 0
    for tx_id, tx_hash in conn.execute(
            select(Transaction.id, Transaction.content_hash)
            .where(Transaction.id > after, Transaction.id <= checkpoint.last_tx_id)
            .order_by(Transaction.id).execution_options(yield_per=BATCH)):
        digest.update(f"\n{int(tx_id)}:{tx_hash}".encode())
        count += 1
    return (checkpoint.prev_hash == prev_hash and checkpoint.hash == digest.hexdigest()
            and count == checkpoint.tx_count)


def checkpoints_public(session: Session, limit: int) -> dict:
    """The ledger position and the newest `limit` checkpoints, newest first."""
    rows = session.execute(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(limit)).scalars()
    return {"position": ledger_position(session),
            "checkpoints": [{"period": c.period, "kind": c.kind, "note": c.note, "first_tx_id": c.first_tx_id,
                             "last_tx_id": c.last_tx_id, "tx_count": c.tx_count, "prev_hash": c.prev_hash,
                             "hash": c.hash, "signature": c.signature} for c in rows]}
