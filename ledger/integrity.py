"""Tamper evidence: content hashes, checkpoints chained over periods, and `verify`.

`seal_period` closes a period: a hash over the ids and content hashes of the period's
transactions, chained to the previous checkpoint.  `verify` recomputes every transaction's
hash from its postings, every balance and every volunteer's minutes per year from the
postings, every transaction's balance per unit of measure, and the checkpoint chain, and
names the first row that does not match.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from sqlalchemy import Integer, cast, extract, func, select, text
from sqlalchemy.orm import Session

from ledger.postings import content_hash
from ledger.tables import Account, Checkpoint, Posting, Transaction
from ledger.tables.year_minutes import VolunteerYearMinutes

GENESIS = "0" * 64
BATCH = 5000


@dataclass
class VerifyReport:
    """What verify found: ok, counts, and the problems with the first offending rows."""

    transactions: int = 0
    postings: int = 0
    accounts: int = 0
    checkpoints: int = 0
    problems: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.problems

    def as_dict(self) -> dict:
        """The report as JSON-ready data."""
        return {"ok": self.ok, "transactions": self.transactions, "postings": self.postings,
                "accounts": self.accounts, "checkpoints": self.checkpoints, "problems": self.problems}


def chain_hash(prev_hash: str, rows: list[tuple[int, str]]) -> str:
    """The hash of a checkpoint: previous hash, then each "id:content_hash" line."""
    digest = hashlib.sha256(prev_hash.encode())
    for tx_id, tx_hash in rows:
        digest.update(f"\n{tx_id}:{tx_hash}".encode())
    return digest.hexdigest()


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


def verify(session: Session) -> VerifyReport:
    """Recompute hashes, balances and the checkpoint chain; report the first differences."""
    report = VerifyReport()
    _verify_transactions(session, report)
    _verify_balanced(session, report)
    _verify_balances(session, report)
    _verify_year_minutes(session, report)
    _verify_checkpoints(session, report)
    return report


def _verify_transactions(session: Session, report: VerifyReport) -> None:
    if session.get_bind().dialect.name == "postgresql":
        _verify_transactions_in_sql(session, report)
        return
    last_id = 0
    while True:
        txs = session.execute(select(Transaction).where(Transaction.id > last_id)
                              .order_by(Transaction.id).limit(BATCH)).scalars().all()
        if not txs:
            return
        ids = [tx.id for tx in txs]
        legs: dict[int, list[dict]] = {tx_id: [] for tx_id in ids}
        for row in session.execute(
            select(Posting.transaction_id, Posting.account_id, Posting.uom, Posting.amount,
                   Posting.volunteer_id, Posting.unit_id, Posting.occurred_on)
            .where(Posting.transaction_id.between(ids[0], ids[-1]))
        ).mappings():
            legs.setdefault(row["transaction_id"], []).append(dict(row))
        for tx in txs:
            report.transactions += 1
            tx_legs = legs.get(tx.id, [])
            report.postings += len(tx_legs)
            expected = content_hash(_tx_dict(tx), tx_legs)
            if expected != tx.content_hash and len(report.problems) < 20:
                report.problems.append({"check": "transaction_hash", "table": "transactions",
                                        "row": tx.id, "detail": "content does not match its hash"})
            wrong_date = [l for l in tx_legs if l["occurred_on"] != tx.occurred_on]
            if wrong_date and len(report.problems) < 20:
                report.problems.append({"check": "posting_date", "table": "postings", "row": tx.id,
                                        "detail": "a posting's date differs from its transaction"})
        last_id = ids[-1]


# The canonical JSON of `postings.content_hash`, built by PostgreSQL itself: keys in sorted
# order, no spaces, to_json() escaping strings exactly as json.dumps(ensure_ascii=False) does,
# postings sorted as the tuples Python sorts.  Hashing in the database streams the ledger
# once, in id ranges, with nothing but the offending ids coming back to Python.
_HASH_SQL = text("""
WITH legs AS (
  SELECT transaction_id,
         string_agg('[' || account_id || ',' || to_json(uom)::text || ',' || amount || ',' ||
                    coalesce(volunteer_id::text, 'null') || ',' || coalesce(unit_id::text, 'null') || ']', ','
                    ORDER BY account_id, uom COLLATE "C", amount, volunteer_id, unit_id) AS rows,
         count(*) AS n, min(occurred_on) AS lo, max(occurred_on) AS hi
  FROM postings WHERE transaction_id > :after AND transaction_id <= :upto GROUP BY transaction_id),
checked AS (
  SELECT t.id, coalesce(l.n, 0) AS n,
         encode(sha256(convert_to(
           '{"actor":' || to_json(t.actor)::text || ',"key":' || to_json(t.idempotency_key)::text ||
           ',"kind":' || to_json(t.kind)::text || ',"memo":' || to_json(coalesce(t.memo, ''))::text ||
           ',"occurred_on":"' || to_char(t.occurred_on, 'YYYY-MM-DD') || '","policy_version_id":' ||
           coalesce(t.policy_version_id::text, 'null') || ',"postings":[' || coalesce(l.rows, '') ||
           '],"reverses_id":' || coalesce(t.reverses_id::text, 'null') || ',"service_record_id":' ||
           coalesce(t.service_record_id::text, 'null') || ',"unit_id":' || coalesce(t.unit_id::text, 'null') ||
           ',"volunteer_id":' || coalesce(t.volunteer_id::text, 'null') || '}', 'UTF8')), 'hex')
           <> t.content_hash AS is_hash_wrong,
         (l.lo <> t.occurred_on OR l.hi <> t.occurred_on) AS is_date_wrong
  FROM transactions t LEFT JOIN legs l ON l.transaction_id = t.id
  WHERE t.id > :after AND t.id <= :upto)
SELECT count(*), coalesce(sum(n), 0),
       (array_agg(id ORDER BY id) FILTER (WHERE is_hash_wrong OR is_date_wrong))[1:20],
       (array_agg(is_hash_wrong ORDER BY id) FILTER (WHERE is_hash_wrong OR is_date_wrong))[1:20],
       (array_agg(is_date_wrong ORDER BY id) FILTER (WHERE is_hash_wrong OR is_date_wrong))[1:20]
FROM checked""")
SQL_RANGE = 200_000


def _verify_transactions_in_sql(session: Session, report: VerifyReport) -> None:
    """PostgreSQL: recompute every content hash in the database, in ranges of transaction ids."""
    top = session.execute(select(func.coalesce(func.max(Transaction.id), 0))).scalar_one()
    after = 0
    while after < top:
        count, postings, ids, hash_wrong, date_wrong = session.execute(
            _HASH_SQL, {"after": after, "upto": after + SQL_RANGE}).one()
        report.transactions += count
        report.postings += int(postings)
        for tx_id, is_hash_wrong, is_date_wrong in zip(ids or (), hash_wrong or (), date_wrong or ()):
            if is_hash_wrong and len(report.problems) < 20:
                report.problems.append({"check": "transaction_hash", "table": "transactions",
                                        "row": tx_id, "detail": "content does not match its hash"})
            if is_date_wrong and len(report.problems) < 20:
                report.problems.append({"check": "posting_date", "table": "postings", "row": tx_id,
                                        "detail": "a posting's date differs from its transaction"})
        after += SQL_RANGE


def _tx_dict(tx: Transaction) -> dict:
    return {"kind": tx.kind, "idempotency_key": tx.idempotency_key, "occurred_on": tx.occurred_on,
            "actor": tx.actor, "volunteer_id": tx.volunteer_id, "unit_id": tx.unit_id,
            "policy_version_id": tx.policy_version_id, "reverses_id": tx.reverses_id,
            "service_record_id": tx.service_record_id, "memo": tx.memo}


def _verify_balanced(session: Session, report: VerifyReport) -> None:
    rows = session.execute(
        select(Posting.transaction_id, Posting.uom, func.sum(Posting.amount))
        .group_by(Posting.transaction_id, Posting.uom).having(func.sum(Posting.amount) != 0)
        .order_by(Posting.transaction_id).limit(20)
    ).all()
    for tx_id, uom, total in rows:
        report.problems.append({"check": "balanced", "table": "transactions", "row": tx_id,
                                "detail": f"{uom} postings sum to {total}, not 0"})


def _verify_balances(session: Session, report: VerifyReport) -> None:
    sums = (select(Posting.account_id, func.sum(Posting.amount).label("total"))
            .group_by(Posting.account_id).subquery())
    rows = session.execute(
        select(Account.id, Account.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance != func.coalesce(sums.c.total, 0)).order_by(Account.id).limit(20)
    ).all()
    report.accounts = session.execute(select(func.count()).select_from(Account)).scalar_one()
    for account, cached, total in rows:
        report.problems.append({"check": "balance", "table": "accounts", "row": account,
                                "detail": f"cached balance {cached} but postings sum to {total}"})


def _verify_year_minutes(session: Session, report: VerifyReport) -> None:
    """Each `volunteer_year_minutes` row against its year's postings on the hours account.

    A (volunteer, year) with postings but no row counts as a row of 0, and a row with no
    postings must be 0: both directions are checked.
    """
    year = cast(extract("year", Posting.occurred_on), Integer)
    sums = (select(Account.owner_id.label("volunteer_id"), year.label("year"),
                   func.sum(Posting.amount).label("total"))
            .join(Account, Account.id == Posting.account_id).where(Account.kind == "volunteer_minutes")
            .group_by(Account.owner_id, year).subquery())
    cached = VolunteerYearMinutes
    missing_or_wrong = session.execute(
        select(sums.c.volunteer_id, sums.c.year, func.coalesce(cached.minutes, 0), sums.c.total)
        .outerjoin(cached, (cached.volunteer_id == sums.c.volunteer_id) & (cached.year == sums.c.year))
        .where(func.coalesce(cached.minutes, 0) != sums.c.total)
        .order_by(sums.c.volunteer_id, sums.c.year).limit(20)).all()
    without_postings = session.execute(
        select(cached.volunteer_id, cached.year, cached.minutes, 0)
        .outerjoin(sums, (cached.volunteer_id == sums.c.volunteer_id) & (cached.year == sums.c.year))
        .where(sums.c.total.is_(None), cached.minutes != 0)
        .order_by(cached.volunteer_id, cached.year).limit(20)).all()
    for volunteer_id, on_year, minutes, total in sorted(missing_or_wrong + without_postings)[:20]:
        report.problems.append({"check": "year_minutes", "table": "volunteer_year_minutes",
                                "row": volunteer_id, "year": on_year,
                                "detail": f"volunteer {volunteer_id} has {minutes} minutes cached for "
                                          f"{on_year} but the postings sum to {total}"})


def _verify_checkpoints(session: Session, report: VerifyReport) -> None:
    prev_hash, after = GENESIS, 0
    for checkpoint in session.execute(select(Checkpoint).order_by(Checkpoint.id)).scalars():
        report.checkpoints += 1
        rows = [(int(i), h) for i, h in session.execute(
            select(Transaction.id, Transaction.content_hash)
            .where(Transaction.id > after, Transaction.id <= checkpoint.last_tx_id)
            .order_by(Transaction.id))]
        expected = chain_hash(prev_hash, rows)
        if checkpoint.prev_hash != prev_hash or checkpoint.hash != expected or len(rows) != checkpoint.tx_count:
            report.problems.append({"check": "checkpoint", "table": "checkpoints", "row": checkpoint.id,
                                    "detail": f"checkpoint {checkpoint.period} does not match the "
                                              f"transactions it seals"})
            return
        prev_hash, after = checkpoint.hash, checkpoint.last_tx_id
