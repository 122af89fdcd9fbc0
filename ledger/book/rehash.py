"""Re-hash the ledger under the ledger key: once after revision 0017, and at each key rotation.

Every transaction's content is recomputed from its postings; its stored hash must be the hash
of that content under the old scheme (the unkeyed SHA-256 of before revision 0017, or an
HMAC under an old ledger key), else nothing is written and the rows are named: a ledger is
re-hashed only as it stands verified.  The new hashes (HMAC under the current key) are
written past the append-only trigger, for this database transaction only, and a `rehash`
checkpoint, signed, seals every transaction from the first, chained to the last checkpoint,
with a note that says what was done.  verify checks the chain from that checkpoint on.

The unkeyed scheme is accepted only for a ledger that was never keyed (no `rehash`
checkpoint, no hash under a key given): a row forged later with an unkeyed hash is not
laundered by a second run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ledger.book.checkpoints import GENESIS, REHASH, append_checkpoint, last_checkpoint
from ledger.book.hashing import Keyed, canonical
from ledger.book.keys import book_keys
from ledger.book.tables import Checkpoint, Posting, Transaction
from ledger.errors import Conflict

BATCH = 5000
SHOWN = 20  # rows named when the ledger does not verify under the old scheme


@dataclass
class _Pass:
    """What one pass over the transactions found."""

    count: int = 0
    unkeyed: int = 0  # stored hash: the unkeyed SHA-256
    old_keyed: int = 0  # stored hash: an HMAC under an old key
    current: int = 0  # already under the current key
    wrong: list[int] = field(default_factory=list)
    first_id: int | None = None
    last_id: int = 0


def rehash(session: Session, *, old_keys: tuple[bytes, ...] = (), now: dt.datetime) -> dict:
    """Make every content hash an HMAC under the current ledger key; seal it with a checkpoint."""
    keys = book_keys(session)
    is_first = session.execute(select(Checkpoint.id).where(Checkpoint.kind == REHASH).limit(1)).first() is None
    last = last_checkpoint(session)
    prev_hash = last.hash if last else GENESIS
    new, olds = Keyed(keys.ledger_key), [Keyed(key) for key in old_keys]
    found, chain = _Pass(), hashlib.sha256(prev_hash.encode())
    with _past_the_append_only_trigger(session):
        for txs, legs in _batches(session):
            updates = []
            for tx in txs:
                digest = hashlib.sha256(canonical(_fields(tx), legs.get(tx.id, [])).encode("utf-8")).digest()
                fresh = new.hex_bytes(digest).decode("ascii")
                _classify(found, tx, digest, fresh, olds)
                if fresh != tx.content_hash:
                    updates.append({"id": tx.id, "day": tx.occurred_on, "hash": fresh})
                chain.update(f"\n{tx.id}:{fresh}".encode())
            if not found.wrong:
                _write(session, updates)
    if found.wrong or (found.unkeyed and not is_first) or (found.unkeyed and (found.old_keyed or found.current)):
        raise Conflict(_refusal(found, is_first), field="content_hash", rows=found.wrong[:SHOWN])
    before = "unkeyed SHA-256" if found.unkeyed else "an earlier ledger key" if found.old_keyed else "this key"
    note = (f"re-hashed {found.count} transactions under ledger key {keys.ledger_key_fingerprint} "
            f"(before: {before}); chain head before: {prev_hash}")
    checkpoint = append_checkpoint(session, period=f"rehash-{now:%y%m%d%H%M%S}", kind=REHASH, note=note,
                                   first_tx_id=found.first_id or 0, last_tx_id=found.last_id, tx_count=found.count,
                                   prev_hash=prev_hash, hash=chain.hexdigest())
    return {"transactions": found.count, "from_unkeyed": found.unkeyed, "from_old_key": found.old_keyed,
            "already_keyed": found.current, "ledger_key_fingerprint": keys.ledger_key_fingerprint,
            "checkpoint": {"period": checkpoint.period, "hash": checkpoint.hash, "note": note}}


def _classify(found: _Pass, tx, digest: bytes, fresh: str, olds: list[Keyed]) -> None:
    found.count += 1
    found.first_id = tx.id if found.first_id is None else found.first_id
    found.last_id = tx.id
    stored = tx.content_hash
    if stored == fresh:
        found.current += 1
    elif stored == digest.hex():
        found.unkeyed += 1
    elif any(old.hex_bytes(digest).decode("ascii") == stored for old in olds):
        found.old_keyed += 1
    else:
        found.wrong.append(tx.id)


def _refusal(found: _Pass, is_first: bool) -> str:
    if found.wrong:
        return (f"{len(found.wrong)} 笔交易的内容与其哈希不符，未重新计算 (these transactions do not match their "
                f"hash under the old scheme; nothing was re-hashed: run verify, and give the old key if any)")
    if not is_first:
        return ("台账已重新计算过，不再接受无密钥哈希 (the ledger was re-hashed before; rows with unkeyed hashes "
                "were written behind its back and are not re-hashed)")
    return ("台账中既有无密钥哈希又有密钥哈希，未重新计算 (the ledger mixes unkeyed and keyed hashes; "
            "nothing was re-hashed)")


def _batches(session: Session):
    """(transactions, their legs by id), BATCH at a time in id order."""
    last_id = -2**63
    while True:
        txs = session.execute(select(*Transaction.__table__.c).where(Transaction.id > last_id)
                              .order_by(Transaction.id).limit(BATCH)).all()
        if not txs:
            return
        legs: dict[int, list[tuple]] = {}
        for row in session.execute(select(Posting.transaction_id, Posting.account_id, Posting.uom, Posting.amount,
                                          Posting.volunteer_id, Posting.unit_id)
                                   .where(Posting.transaction_id > last_id, Posting.transaction_id <= txs[-1].id)):
            legs.setdefault(row[0], []).append(tuple(row[1:]))
        yield txs, legs
        last_id = txs[-1].id


def _fields(tx: Transaction) -> dict:
    return {"kind": tx.kind, "idempotency_key": tx.idempotency_key, "occurred_on": tx.occurred_on,
            "actor": tx.actor, "volunteer_id": tx.volunteer_id, "unit_id": tx.unit_id,
            "policy_version_id": tx.policy_version_id, "reverses_id": tx.reverses_id,
            "service_record_id": tx.service_record_id, "memo": tx.memo}


def _write(session: Session, updates: list[dict]) -> None:
    if not updates:
        return
    session.execute(text("UPDATE transactions SET content_hash = :hash WHERE id = :id AND occurred_on = :day"),
                    updates)


class _past_the_append_only_trigger:  # noqa: N801 - used as a context manager
    """The append-only trigger of `transactions` off for this database transaction only.

    PostgreSQL: ALTER TABLE ... DISABLE TRIGGER (transactional; every partition, and a lock
    on the table until COMMIT), enabled again before the transaction ends.  SQLite: the
    UPDATE trigger dropped and made again from its own text, in the same transaction.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.is_postgresql = session.get_bind().dialect.name == "postgresql"
        self.sqlite_trigger: str | None = None

    def __enter__(self) -> None:
        if self.is_postgresql:
            self.session.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_append_only"))
            return
        self.sqlite_trigger = self.session.execute(text(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'transactions_no_update'")).scalar()
        if self.sqlite_trigger:
            self.session.execute(text("DROP TRIGGER transactions_no_update"))

    def __exit__(self, error_type, *exc) -> None:
        if error_type is not None:  # the transaction rolls back, and the trigger with it
            return
        if self.is_postgresql:
            self.session.execute(text("ALTER TABLE transactions ENABLE TRIGGER transactions_append_only"))
        elif self.sqlite_trigger:
            self.session.execute(text(self.sqlite_trigger))
