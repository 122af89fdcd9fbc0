"""Checkpoints: a period's transactions sealed by a hash chained to the previous seal.

`seal_period` closes a period: a hash over the ids and content hashes of the period's
transactions (`hashing.chain_hash`), chained to the previous checkpoint.
"""
from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.hashing import chain_hash
from ledger.book.postings import ledger_position
from ledger.book.tables import Checkpoint, Transaction

GENESIS = "0" * 64
BATCH = 5000


def seal_period(session: Session, period: str, until: dt.datetime) -> Checkpoint:
    """Seal every unsealed transaction recorded before `until` under the label `period`."""
    existing = session.execute(select(Checkpoint).where(Checkpoint.period == period)).scalar_one_or_none()
    if existing is not None:
        return existing
    last = session.execute(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).scalar_one_or_none()
    after = last.last_tx_id if last else 0
    prev_hash = last.hash if last else GENESIS
    rows = [(int(i), h) for i, h in session.execute(
        select(Transaction.id, Transaction.content_hash)
        .where(Transaction.id > after, Transaction.recorded_at < until).order_by(Transaction.id))]
    checkpoint = Checkpoint(period=period, first_tx_id=rows[0][0] if rows else after,
                            last_tx_id=rows[-1][0] if rows else after, tx_count=len(rows),
                            prev_hash=prev_hash, hash=chain_hash(prev_hash, rows))
    session.add(checkpoint)
    session.flush()
    return checkpoint



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
            "checkpoints": [{"period": c.period, "first_tx_id": c.first_tx_id, "last_tx_id": c.last_tx_id,
                             "tx_count": c.tx_count, "prev_hash": c.prev_hash, "hash": c.hash}
                            for c in rows]}
