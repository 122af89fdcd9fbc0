"""`verify`: recompute everything the ledger caches or seals, and name what differs.

`verify` recomputes every transaction's hash from its postings (an HMAC under the ledger
key: `keys.py`), every balance and every volunteer's minutes per year from the postings, every
transaction's balance per unit of measure, and the checkpoint chain from the newest rehash on,
each checkpoint signed with one of this deployment's keys (`checkpoints.check_chain`); it checks that `transaction_keys` holds exactly one row
per transaction, with the transaction's idempotency key, date and reversed transaction, and
no row without its transaction; that no posting names a transaction that does not exist; and
it names the first rows that do not match.  On PostgreSQL every check runs in the database
(`verify_postgresql`); elsewhere the hashes are recomputed here.
"""
from __future__ import annotations

from sqlalchemy import Integer, cast, extract, func, select
from sqlalchemy.orm import Session

from ledger.book import problems as words
from ledger.book.checkpoints import BATCH, all_checkpoints, check_chain, checkpoint_matches
from ledger.book.hashing import Keyed, canonical, digest_of
from ledger.book.keys import book_keys
from ledger.book.problems import LIMIT, VerifyReport
from ledger.book.tables import Account, Posting, Transaction, TransactionKey
from ledger.book.year_minutes import VolunteerYearMinutes

FIRST_ID = -2**63  # the first range of transaction ids is open below (ids after this one)
WORKERS = 2  # connections verify uses on PostgreSQL (the server's cores it can keep busy)


def verify(session: Session, *, workers: int = WORKERS) -> VerifyReport:
    """Recompute hashes, balances and the checkpoint chain; report the first differences.

    On PostgreSQL every check runs inside the database (see `verify_postgresql`), on up to
    `workers` connections that share one snapshot; on SQLite the hashes are recomputed here.
    """
    if session.get_bind().dialect.name == "postgresql":
        from ledger.book.verify_postgresql import verify_postgresql
        return verify_postgresql(session, workers)
    report = VerifyReport()
    _verify_transactions(session, report)
    _verify_balanced(session, report)
    _verify_balances(session, report)
    _verify_year_minutes(session, report)
    _verify_checkpoints(session, report)
    return report



# --- SQLite (and any engine): the hashes in Python ------------------------------------------


def _verify_transactions(session: Session, report: VerifyReport) -> None:
    """Each transaction's hash, its postings' dates, and its key row, batch by batch in id order;
    and the postings that name no transaction.

    The problems of the key rows come after those of the hashes and dates (first LIMIT of
    their own), then those of the postings without their transaction, as on PostgreSQL.
    """
    last_id, key_problems, orphans = FIRST_ID, [], []
    keyed = Keyed(book_keys(session).ledger_key)
    while True:
        txs = session.execute(select(Transaction).where(Transaction.id > last_id)
                              .order_by(Transaction.id).limit(BATCH)).scalars().all()
        # the key rows and postings of the same range of ids (past the last transaction: every one left)
        upto = txs[-1].id if txs else None
        key_problems = sorted(key_problems + _key_problems(txs, _key_rows(session, last_id, upto)))[:LIMIT]
        legs: dict[int, list[dict]] = {tx.id: [] for tx in txs}
        query = (select(Posting.transaction_id, Posting.account_id, Posting.uom, Posting.amount,
                        Posting.volunteer_id, Posting.unit_id, Posting.occurred_on)
                 .where(Posting.transaction_id > last_id))
        if upto is not None:
            query = query.where(Posting.transaction_id <= upto)
        for row in session.execute(query).mappings():
            legs.setdefault(row["transaction_id"], []).append(dict(row))
        # what is left once each transaction took its own: postings naming no transaction
        without = sorted((tx_id, len(legs.pop(tx_id))) for tx_id in set(legs) - {tx.id for tx in txs})
        report.postings += sum(count for _, count in without)
        orphans = sorted(orphans + without)[:LIMIT]
        if not txs:
            report.problems += [words.key_problem(*p) for p in key_problems]
            report.problems += [words.orphan_problem(*p) for p in orphans]
            return
        ids = [tx.id for tx in txs]
        for tx in txs:
            report.transactions += 1
            tx_legs = legs.get(tx.id, [])
            report.postings += len(tx_legs)
            text = canonical(_tx_dict(tx), tx_legs)
            if keyed.text(text) != tx.content_hash and len(report.problems) < LIMIT:
                is_unkeyed = digest_of(text) == tx.content_hash
                report.problems.append((words.unkeyed_problem if is_unkeyed else words.hash_problem)(tx.id))
            wrong_date = [l for l in tx_legs if l["occurred_on"] != tx.occurred_on]
            if wrong_date and len(report.problems) < LIMIT:
                report.problems.append(words.date_problem(tx.id))
        last_id = ids[-1]


KEY_FIELDS = ("idempotency_key", "occurred_on", "reverses_id")  # a key row's copy of its transaction's


def _key_rows(session: Session, after: int, upto: int | None) -> dict[int, tuple]:
    """The key rows with transaction ids in (after, upto], by id (upto None: no upper bound)."""
    keys = TransactionKey.__table__.c
    query = select(keys.transaction_id, *(keys[name] for name in KEY_FIELDS)).where(keys.transaction_id > after)
    if upto is not None:
        query = query.where(keys.transaction_id <= upto)
    return {row[0]: tuple(row[1:]) for row in session.execute(query)}


def _key_problems(txs: list[Transaction], key_rows: dict[int, tuple]) -> list[tuple[int, str]]:
    """(id, what is wrong) for each transaction whose key row differs or is missing, and for
    each key row of the same range of ids without its transaction; at most LIMIT, in id order."""
    found = []
    for tx in txs:
        key = key_rows.pop(tx.id, None)
        if key is None:
            found.append((tx.id, "missing"))
            continue
        wrong = [name for name, value in zip(KEY_FIELDS, key) if value != getattr(tx, name)]
        if wrong:
            found.append((tx.id, ",".join(wrong)))
    found += [(tx_id, "orphan") for tx_id in key_rows]
    return sorted(found)[:LIMIT]


def _tx_dict(tx: Transaction) -> dict:
    return {"kind": tx.kind, "idempotency_key": tx.idempotency_key, "occurred_on": tx.occurred_on,
            "actor": tx.actor, "volunteer_id": tx.volunteer_id, "unit_id": tx.unit_id,
            "policy_version_id": tx.policy_version_id, "reverses_id": tx.reverses_id,
            "service_record_id": tx.service_record_id, "memo": tx.memo}


def _verify_balanced(session: Session, report: VerifyReport) -> None:
    rows = session.execute(
        select(Posting.transaction_id, Posting.uom, func.sum(Posting.amount))
        .group_by(Posting.transaction_id, Posting.uom).having(func.sum(Posting.amount) != 0)
        .order_by(Posting.transaction_id, Posting.uom).limit(LIMIT)
    ).all()
    report.problems.extend(words.balanced_problem(tx_id, uom, total) for tx_id, uom, total in rows)


def _verify_balances(session: Session, report: VerifyReport) -> None:
    sums = (select(Posting.account_id, func.sum(Posting.amount).label("total"))
            .group_by(Posting.account_id).subquery())
    rows = session.execute(
        select(Account.id, Account.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance != func.coalesce(sums.c.total, 0)).order_by(Account.id).limit(LIMIT)
    ).all()
    report.accounts = session.execute(select(func.count()).select_from(Account)).scalar_one()
    report.problems.extend(words.balance_problem(*row) for row in rows)


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
        .order_by(sums.c.volunteer_id, sums.c.year).limit(LIMIT)).all()
    without_postings = session.execute(
        select(cached.volunteer_id, cached.year, cached.minutes, 0)
        .outerjoin(sums, (cached.volunteer_id == sums.c.volunteer_id) & (cached.year == sums.c.year))
        .where(sums.c.total.is_(None), cached.minutes != 0)
        .order_by(cached.volunteer_id, cached.year).limit(LIMIT)).all()
    report.problems.extend(words.year_problem(*row) for row in sorted(missing_or_wrong + without_postings)[:LIMIT])


def _verify_checkpoints(session: Session, report: VerifyReport) -> None:
    """The chain from the newest rehash on: linked, signed, each sealing what it says."""
    count, problem = check_chain(all_checkpoints(session), book_keys(session).public_keys,
                                 lambda checkpoint, prev_hash, after:
                                 checkpoint_matches(session, checkpoint, prev_hash, after))
    report.checkpoints += count
    if problem:
        report.problems.append(problem)
