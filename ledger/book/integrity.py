"""Tamper evidence: content hashes, checkpoints chained over periods, and `verify`.

`seal_period` closes a period: a hash over the ids and content hashes of the period's
transactions, chained to the previous checkpoint.  `verify` recomputes every transaction's
hash from its postings, every balance and every volunteer's minutes per year from the
postings, every transaction's balance per unit of measure, and the checkpoint chain; it
checks that `transaction_keys` holds exactly one row per transaction, with the transaction's
idempotency key, date and reversed transaction, and no row without its transaction; that no
posting names a transaction that does not exist; and it names the first rows that do not match.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field
from queue import Empty, Queue

from sqlalchemy import Integer, cast, extract, func, select, text
from sqlalchemy.orm import Session

from ledger.book.postings import content_hash, ledger_position
from ledger.book.tables import Account, Checkpoint, Posting, Transaction, TransactionKey
from ledger.book.year_minutes import VolunteerYearMinutes

GENESIS = "0" * 64
BATCH = 5000
LIMIT = 20  # problems named per check
FIRST_ID = -2**63  # the first range of transaction ids is open below (ids after this one)
WORKERS = 2  # connections verify uses on PostgreSQL (the server's cores it can keep busy)


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


def verify(session: Session, *, workers: int = WORKERS) -> VerifyReport:
    """Recompute hashes, balances and the checkpoint chain; report the first differences.

    On PostgreSQL every check runs inside the database (see `_verify_postgresql`), on up to
    `workers` connections that share one snapshot; on SQLite the hashes are recomputed here.
    """
    if session.get_bind().dialect.name == "postgresql":
        return _verify_postgresql(session, workers)
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
            report.problems += [_key_problem(*p) for p in key_problems]
            report.problems += [_orphan_problem(*p) for p in orphans]
            return
        ids = [tx.id for tx in txs]
        for tx in txs:
            report.transactions += 1
            tx_legs = legs.get(tx.id, [])
            report.postings += len(tx_legs)
            expected = content_hash(_tx_dict(tx), tx_legs)
            if expected != tx.content_hash and len(report.problems) < LIMIT:
                report.problems.append(_hash_problem(tx.id))
            wrong_date = [l for l in tx_legs if l["occurred_on"] != tx.occurred_on]
            if wrong_date and len(report.problems) < LIMIT:
                report.problems.append(_date_problem(tx.id))
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
    report.problems.extend(_balanced_problem(tx_id, uom, total) for tx_id, uom, total in rows)


def _verify_balances(session: Session, report: VerifyReport) -> None:
    sums = (select(Posting.account_id, func.sum(Posting.amount).label("total"))
            .group_by(Posting.account_id).subquery())
    rows = session.execute(
        select(Account.id, Account.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance != func.coalesce(sums.c.total, 0)).order_by(Account.id).limit(LIMIT)
    ).all()
    report.accounts = session.execute(select(func.count()).select_from(Account)).scalar_one()
    report.problems.extend(_balance_problem(*row) for row in rows)


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
    report.problems.extend(_year_problem(*row) for row in sorted(missing_or_wrong + without_postings)[:LIMIT])


def _verify_checkpoints(session: Session, report: VerifyReport) -> None:
    prev_hash, after = GENESIS, 0
    for checkpoint in session.execute(select(Checkpoint).order_by(Checkpoint.id)).scalars():
        report.checkpoints += 1
        if not _checkpoint_matches(session, checkpoint, prev_hash, after):
            report.problems.append(_checkpoint_problem(checkpoint.id, checkpoint.period))
            return
        prev_hash, after = checkpoint.hash, checkpoint.last_tx_id


def _checkpoint_matches(conn, checkpoint, prev_hash: str, after: int) -> bool:
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


# --- the problems, in the words every engine reports ----------------------------------------


def _hash_problem(tx_id: int) -> dict:
    return {"check": "transaction_hash", "table": "transactions", "row": tx_id,
            "detail": "content does not match its hash"}


def _date_problem(tx_id: int) -> dict:
    return {"check": "posting_date", "table": "postings", "row": tx_id,
            "detail": "a posting's date differs from its transaction"}


def _key_problem(tx_id: int, wrong: str) -> dict:
    """`wrong`: "missing" (no key row), "orphan" (no transaction), else the differing fields."""
    if wrong == "missing":
        detail = "the transaction has no row in transaction_keys"
    elif wrong == "orphan":
        detail = "a key row names no transaction"
    else:
        fields = wrong.split(",")
        detail = (f"the key row's {', '.join(fields)} {'differs' if len(fields) == 1 else 'differ'} "
                  f"from its transaction's")
    return {"check": "transaction_key", "table": "transaction_keys", "row": tx_id, "detail": detail}


def _orphan_problem(tx_id: int, postings: int) -> dict:
    """`postings` postings name the transaction `tx_id`, which does not exist."""
    named = "1 posting names" if postings == 1 else f"{postings} postings name"
    return {"check": "posting_orphan", "table": "postings", "row": tx_id,
            "detail": f"{named} transaction {tx_id}, which does not exist"}


def _balanced_problem(tx_id: int, uom: str, total) -> dict:
    return {"check": "balanced", "table": "transactions", "row": tx_id,
            "detail": f"{uom} postings sum to {total}, not 0"}


def _balance_problem(account: int, cached, total) -> dict:
    return {"check": "balance", "table": "accounts", "row": account,
            "detail": f"cached balance {cached} but postings sum to {total}"}


def _year_problem(volunteer_id: int, on_year: int, minutes, total) -> dict:
    return {"check": "year_minutes", "table": "volunteer_year_minutes", "row": volunteer_id,
            "year": on_year, "detail": f"volunteer {volunteer_id} has {minutes} minutes cached for "
                                       f"{on_year} but the postings sum to {total}"}


def _checkpoint_problem(checkpoint_id: int, period: str) -> dict:
    return {"check": "checkpoint", "table": "checkpoints", "row": checkpoint_id,
            "detail": f"checkpoint {period} does not match the transactions it seals"}


# --- PostgreSQL: every check in the database, on two connections over one snapshot ----------
#
# One pass over the postings per range of transaction ids (merge join of the two primary
# orders, no sort but the few legs of each transaction) recomputes each content hash, the
# postings' dates and the balance per unit of measure, and merges in the range's key rows
# (`transaction_keys`, one per transaction); the cached balances and the minutes
# per year are two aggregates over the postings; the checkpoint chain is hashed by the
# database too.  The work is cut into tasks that `workers` read-only REPEATABLE READ
# connections, all on the snapshot exported by the caller's transaction, take from a queue:
# the server uses both cores and only offending ids come back to Python.

# The canonical JSON of `postings.content_hash`, built by PostgreSQL itself: keys in sorted
# order, no spaces, to_json() escaping strings exactly as json.dumps(ensure_ascii=False) does,
# postings sorted as the tuples Python sorts.  The legs are aggregated per transaction first,
# from the postings in transaction order (a merge of each partition's transaction_id index),
# then merged with the transactions in id order: nothing is sorted but each transaction's
# few legs, and no wide row is copied per posting.  The subquery is fenced (OFFSET 0) so that
# the hash is computed once per transaction, not once per reference in the outer aggregates.
# `transactions` is partitioned by month: its rows come in id order from a merge of each
# partition's primary key (id, occurred_on).
#
# The key rows of the range are merged with the transactions in the same pass (a FULL JOIN,
# merged on the id: the key table's primary key is in id order too): a transaction without
# its key row, a key row without its transaction, and a key row whose idempotency key, date or
# reversed transaction differ from its transaction's are named by `key_wrong` ("missing",
# "orphan", or the differing fields).  The ORDER BY in the fenced subquery tells the planner
# the order its rows come in, which the merge full join needs (without it, a hash table of
# the key rows of the whole range); see below for what it costs.
# Only transactions are counted: count(id), as a key row without its transaction has no id.
#
# The postings are merged with the transactions in a FULL JOIN too, so that postings naming
# a transaction that does not exist (deleted behind the ledger's back) come out as rows with
# no `id` but a `row_id` (their transaction_id), counted in the postings and named with how
# many there are ("posting_orphan"); their key row, if it is left, is a key orphan.  The range
# filter on the transactions sits inside their subquery (in the WHERE above the join it
# would turn the full join back into a left one).  PostgreSQL does not know that a merge
# full join's output comes in the order of its key, so the ORDER BY row_id before the merge
# with the key rows is a Sort (in spite of enable_sort = off: nothing else can merge), of
# the narrow rows left once the hash is computed: already in order, one per transaction;
# +1-4% per range of 200,000 ids (quicksort in memory, or an external merge of ~10 MB when
# the range's rows are bigger than work_mem).  A UNION ALL of the postings and the key
# rows under the one aggregate would need no Sort, but PostgreSQL 15 does not merge-append
# a partitioned table with a plain one: it sorted the postings instead.
_HASH_SQL = text("""
SELECT count(id), coalesce(sum(n), 0),
       (array_agg(id ORDER BY id) FILTER (WHERE is_hash_wrong OR is_date_wrong))[1:20],
       (array_agg(is_hash_wrong ORDER BY id) FILTER (WHERE is_hash_wrong OR is_date_wrong))[1:20],
       (array_agg(is_date_wrong ORDER BY id) FILTER (WHERE is_hash_wrong OR is_date_wrong))[1:20],
       (array_agg(row_id ORDER BY row_id) FILTER (WHERE is_unbalanced))[1:20],
       (array_agg(key_id ORDER BY key_id, key_wrong) FILTER (WHERE key_wrong IS NOT NULL))[1:20],
       (array_agg(key_wrong ORDER BY key_id, key_wrong) FILTER (WHERE key_wrong IS NOT NULL))[1:20],
       (array_agg(row_id ORDER BY row_id) FILTER (WHERE id IS NULL AND n > 0))[1:20],
       (array_agg(n ORDER BY row_id) FILTER (WHERE id IS NULL AND n > 0))[1:20]
FROM (
 SELECT c.id, c.row_id, c.n, c.is_hash_wrong, c.is_date_wrong, c.is_unbalanced,
        coalesce(c.row_id, k.transaction_id) AS key_id,
        CASE WHEN c.id IS NULL THEN CASE WHEN k.transaction_id IS NOT NULL THEN 'orphan' END
             WHEN k.transaction_id IS NULL THEN 'missing'
             WHEN (k.idempotency_key, k.occurred_on, k.reverses_id)
                  IS DISTINCT FROM (c.idempotency_key, c.occurred_on, c.reverses_id) THEN concat_ws(',',
               CASE WHEN k.idempotency_key IS DISTINCT FROM c.idempotency_key THEN 'idempotency_key' END,
               CASE WHEN k.occurred_on IS DISTINCT FROM c.occurred_on THEN 'occurred_on' END,
               CASE WHEN k.reverses_id IS DISTINCT FROM c.reverses_id THEN 'reverses_id' END)
        END COLLATE "C" AS key_wrong
 FROM (
  SELECT t.id, coalesce(t.id, l.transaction_id) AS row_id, t.idempotency_key, t.occurred_on, t.reverses_id,
         coalesce(l.n, 0) AS n,
         encode(sha256(convert_to(
           '{"actor":' || to_json(t.actor)::text || ',"key":' || to_json(t.idempotency_key)::text ||
           ',"kind":' || to_json(t.kind)::text || ',"memo":' || to_json(coalesce(t.memo, ''))::text ||
           ',"occurred_on":"' || to_char(t.occurred_on, 'YYYY-MM-DD') || '","policy_version_id":' ||
           coalesce(t.policy_version_id::text, 'null') || ',"postings":[' || coalesce(l.legs, '') ||
           '],"reverses_id":' || coalesce(t.reverses_id::text, 'null') || ',"service_record_id":' ||
           coalesce(t.service_record_id::text, 'null') || ',"unit_id":' || coalesce(t.unit_id::text, 'null') ||
           ',"volunteer_id":' || coalesce(t.volunteer_id::text, 'null') || '}', 'UTF8')), 'hex')
           IS DISTINCT FROM t.content_hash AS is_hash_wrong,
         coalesce(l.lo <> t.occurred_on OR l.hi <> t.occurred_on, false) AS is_date_wrong,
         coalesce(l.unbalanced, false) AS is_unbalanced
  FROM (SELECT * FROM transactions WHERE id > :after AND id <= :upto) AS t
  FULL JOIN (
    SELECT transaction_id, count(*) AS n, min(occurred_on) AS lo, max(occurred_on) AS hi,
           string_agg('[' || account_id || ',' ||
                      CASE uom WHEN 'MIN' THEN '"MIN"' WHEN 'PTS' THEN '"PTS"' ELSE to_json(uom)::text END ||
                      ',' || amount || ',' || coalesce(volunteer_id::text, 'null') || ',' ||
                      coalesce(unit_id::text, 'null') || ']', ','
                      ORDER BY account_id, uom COLLATE "C", amount, volunteer_id, unit_id) AS legs,
           sum(amount) FILTER (WHERE uom = 'MIN') <> 0 OR sum(amount) FILTER (WHERE uom = 'PTS') <> 0
             OR bool_or(uom NOT IN ('MIN', 'PTS')) AS unbalanced
    FROM postings WHERE transaction_id > :after AND transaction_id <= :upto
    GROUP BY transaction_id) l ON l.transaction_id = t.id
  ORDER BY row_id OFFSET 0) AS c
 FULL JOIN (SELECT transaction_id, idempotency_key, occurred_on, reverses_id FROM transaction_keys
            WHERE transaction_id > :after AND transaction_id <= :upto) AS k ON k.transaction_id = c.row_id
 OFFSET 0) AS checked""")
# The plan above, whatever the statistics say: postings is partitioned, and its parent's
# statistics (autovacuum never analyzes a partitioned table) may be missing, when the planner
# guesses 200 transactions per range and hashes or sorts wide rows instead, spilling to disk.
# work_mem: the one Sort left (the checked rows by id before the key rows merge in, narrow and
# already in order) spilled ~13 MB to disk per 200k-id range at the stock 4 MB; the aggregate
# tasks' hash tables (per account, per volunteer and year) get the same room.
_HASH_PLAN = {"enable_hashjoin": "off", "enable_sort": "off", "work_mem": "64MB"}
_AGGREGATE_PLAN = {"enable_hashjoin": "on", "enable_sort": "on", "work_mem": "64MB"}
_SETTINGS = ("jit", *_HASH_PLAN)

_BALANCED_SQL = text("""
SELECT transaction_id, uom, sum(amount) FROM postings WHERE transaction_id = ANY(:ids)
GROUP BY transaction_id, uom HAVING sum(amount) <> 0 ORDER BY transaction_id, uom LIMIT 20""")

# Fenced (OFFSET 0) so that LIMIT 20 does not lead the planner to walk the postings in
# account order through every partition's index: one pass, hashed by account.
_BALANCES_SQL = text("""
SELECT id, balance, total FROM (
  SELECT a.id, a.balance, coalesce(s.total, 0) AS total FROM accounts a
  LEFT JOIN (SELECT account_id, sum(amount) AS total FROM postings GROUP BY account_id) s ON s.account_id = a.id
  WHERE a.balance <> coalesce(s.total, 0) OFFSET 0) AS differ
ORDER BY id LIMIT 20""")

# Both directions in one pass: a (volunteer, year) with postings but no row, or a row with
# no postings that is not 0, or a row that differs.
_YEAR_MINUTES_SQL = text("""
SELECT * FROM (
SELECT coalesce(s.volunteer_id, m.volunteer_id) AS volunteer_id, coalesce(s.year, m.year) AS year,
       coalesce(m.minutes, 0) AS minutes, coalesce(s.total, 0) AS total
FROM (SELECT a.owner_id AS volunteer_id, date_part('year', p.occurred_on)::int AS year, sum(p.amount) AS total
      FROM postings p JOIN accounts a ON a.id = p.account_id WHERE a.kind = 'volunteer_minutes'
      GROUP BY 1, 2) s
FULL JOIN volunteer_year_minutes m ON m.volunteer_id = s.volunteer_id AND m.year = s.year
WHERE coalesce(m.minutes, 0) <> coalesce(s.total, 0)
OFFSET 0) AS differ
ORDER BY 1, 2 LIMIT 20""")

# Each checkpoint against the previous one's stored hash and last id, which is what the
# chain check in Python does after each checkpoint that matches: the same sha256 over
# prev_hash, then "\n<id>:<content_hash>" per transaction in id order.  Checkpoints sealing
# more than CHAIN_IN_SQL ids (a string_agg of that many lines) are hashed in Python.
_CHECKPOINTS_SQL = text("""
WITH c AS (
  SELECT id, period, prev_hash, hash, tx_count, last_tx_id,
         lag(hash, 1, :genesis) OVER (ORDER BY id) AS expected_prev,
         lag(last_tx_id, 1, 0::bigint) OVER (ORDER BY id) AS after
  FROM checkpoints)
SELECT c.id, c.period, c.prev_hash, c.hash, c.tx_count, c.last_tx_id, c.expected_prev, c.after,
       CASE WHEN c.last_tx_id - c.after <= :in_sql THEN
         c.prev_hash = c.expected_prev AND c.hash = s.digest AND c.tx_count = s.n END AS matches
FROM c LEFT JOIN LATERAL (
  SELECT encode(sha256(convert_to(c.expected_prev || coalesce(
           string_agg(E'\\n' || t.id || ':' || t.content_hash, '' ORDER BY t.id), ''), 'UTF8')), 'hex') AS digest,
         count(*) AS n
  FROM transactions t
  WHERE t.id > c.after AND t.id <= c.last_tx_id AND c.last_tx_id - c.after <= :in_sql) AS s ON true
ORDER BY c.id""")
CHAIN_IN_SQL = 2_000_000

SQL_RANGE = 200_000  # transaction ids per hashing task at most
MIN_RANGE = 5_000  # and at least, so that a small ledger is not cut into tiny queries
RANGES_PER_WORKER = 4  # enough tasks that both connections finish together
LAST_ID = 2**63 - 1


@dataclass
class _Found:
    """What one task found: counts, and problems by check (first rows only)."""

    transactions: int = 0
    postings: int = 0
    accounts: int = 0
    checkpoints: int = 0
    flagged: list[tuple[int, bool, bool]] = field(default_factory=list)  # (tx, hash wrong, date wrong)
    keys: list[tuple[int, str]] = field(default_factory=list)  # (tx, what is wrong with its key row)
    orphans: list[tuple[int, int]] = field(default_factory=list)  # (missing tx, postings naming it)
    unbalanced: list[dict] = field(default_factory=list)
    balances: list[dict] = field(default_factory=list)
    year_minutes: list[dict] = field(default_factory=list)
    checkpoint: list[dict] = field(default_factory=list)


def _verify_postgresql(session: Session, workers: int) -> VerifyReport:
    conn = session.connection()
    top = conn.execute(select(func.coalesce(func.max(Transaction.id), 0))).scalar_one()
    tasks = [_balances_task, _year_minutes_task, _checkpoints_task]
    width = min(SQL_RANGE, max(MIN_RANGE, -(-top // max(1, workers * RANGES_PER_WORKER))))
    starts = list(range(0, top, width)) or [0]
    # the first and last ranges are open: whatever the snapshot holds before the first id
    # (a key row without its transaction, say) or past `top` is checked too
    tasks += [_hash_task(after or FIRST_ID, after + width if after + width < top else LAST_ID) for after in starts]
    found = _run(conn, tasks, workers if not session.in_nested_transaction() else 1)
    report = VerifyReport()
    flagged, keys, orphans, unbalanced = [], [], [], []
    for part in found:
        report.transactions += part.transactions
        report.postings += part.postings
        report.accounts += part.accounts
        report.checkpoints += part.checkpoints
        flagged += part.flagged
        keys += part.keys
        orphans += part.orphans
        unbalanced += part.unbalanced
    for tx_id, is_hash_wrong, is_date_wrong in sorted(flagged):
        if is_hash_wrong and len(report.problems) < LIMIT:
            report.problems.append(_hash_problem(tx_id))
        if is_date_wrong and len(report.problems) < LIMIT:
            report.problems.append(_date_problem(tx_id))
    report.problems += [_key_problem(*p) for p in sorted(keys)[:LIMIT]]
    report.problems += [_orphan_problem(*p) for p in sorted(orphans)[:LIMIT]]
    report.problems += sorted(unbalanced, key=lambda p: (p["row"], p["detail"]))[:LIMIT]
    for check in ("balances", "year_minutes", "checkpoint"):
        for part in found:
            report.problems += getattr(part, check)
    return report


def _run(conn, tasks: list, workers: int) -> list[_Found]:
    """Run the tasks on `workers` connections over the caller's snapshot, else on the caller's.

    The caller's transaction exports its snapshot; each helper opens a READ ONLY, REPEATABLE
    READ transaction on it, so every task sees the same ledger the caller sees.  A transaction
    that has written sees rows no other can: then everything runs on the caller's connection,
    as do the tasks left if no helper could connect (no connection to spare, say).
    """
    written = conn.execute(text("SELECT txid_current_if_assigned() IS NOT NULL")).scalar_one()
    results: list = [None] * len(tasks)
    queue: Queue = Queue()
    for index, task in enumerate(tasks):
        queue.put((index, task))
    if workers > 1 and not written and len(tasks) > 1:
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_helper, args=(conn.engine, snapshot, queue, results, errors),
                                    name=f"verify-{n}") for n in range(min(workers, len(tasks)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
    if not queue.empty():
        before = dict(zip(_SETTINGS, conn.execute(text(
            "SELECT " + ", ".join(f"current_setting('{name}')" for name in _SETTINGS))).one()))
        try:
            _settings(conn, {"jit": "off"})
            _drain(conn, queue, results, [])
        finally:  # the caller's transaction goes on as it was
            _settings(conn, before)
    return results


def _helper(engine, snapshot: str, queue: Queue, results: list, errors: list) -> None:
    """One helper connection: on the caller's snapshot, read only, take tasks until none are left."""
    try:
        helper = engine.connect()
    except Exception:  # noqa: BLE001 - the tasks stay in the queue for the others or the caller
        return
    try:
        helper = helper.execution_options(isolation_level="REPEATABLE READ")
        helper.execute(text("SET TRANSACTION READ ONLY"))
        helper.execute(text("SET TRANSACTION SNAPSHOT '%s'" % snapshot.replace("'", "")))
        # the helpers already keep the cores busy: no parallel workers of their own
        _settings(helper, {"jit": "off", "max_parallel_workers_per_gather": "0"})
        _drain(helper, queue, results, errors)
    except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
        errors.append(error)
    finally:
        helper.rollback()
        helper.close()


def _drain(conn, queue: Queue, results: list, errors: list) -> None:
    while not errors:
        try:
            index, task = queue.get_nowait()
        except Empty:
            return
        results[index] = task(conn)


def _settings(conn, values: dict[str, str]) -> None:
    """Set planner settings for the rest of the transaction (JIT off: compiling these
    statements costs more than it saves)."""
    conn.execute(text("SELECT " + ", ".join(f"set_config(:n{i}, :v{i}, true)" for i in range(len(values)))),
                 {**{f"n{i}": name for i, name in enumerate(values)},
                  **{f"v{i}": value for i, value in enumerate(values.values())}})


def _hash_task(after: int, upto: int):
    def task(conn) -> _Found:
        _settings(conn, _HASH_PLAN)
        (count, postings, ids, hash_wrong, date_wrong, unbalanced, key_ids, key_wrong,
         orphan_ids, orphan_postings) = conn.execute(_HASH_SQL, {"after": after, "upto": upto}).one()
        found = _Found(transactions=count, postings=int(postings),
                       flagged=list(zip(ids or (), hash_wrong or (), date_wrong or ())),
                       keys=list(zip(key_ids or (), key_wrong or ())),
                       orphans=list(zip(orphan_ids or (), orphan_postings or ())))
        if unbalanced:  # which unit of measure, and by how much, for the first ones
            found.unbalanced = [_balanced_problem(*row) for row in conn.execute(_BALANCED_SQL, {"ids": unbalanced})]
        return found
    return task


def _balances_task(conn) -> _Found:
    _settings(conn, _AGGREGATE_PLAN)
    rows = conn.execute(_BALANCES_SQL).all()
    accounts = conn.execute(select(func.count()).select_from(Account)).scalar_one()
    return _Found(accounts=accounts, balances=[_balance_problem(*row) for row in rows])


def _year_minutes_task(conn) -> _Found:
    _settings(conn, _AGGREGATE_PLAN)
    return _Found(year_minutes=[_year_problem(*row) for row in conn.execute(_YEAR_MINUTES_SQL)])


def _checkpoints_task(conn) -> _Found:
    _settings(conn, _AGGREGATE_PLAN)
    found = _Found()
    for row in conn.execute(_CHECKPOINTS_SQL, {"genesis": GENESIS, "in_sql": CHAIN_IN_SQL}).mappings():
        found.checkpoints += 1
        matches = row["matches"]
        if matches is None:  # too long for one string in the database: stream it here
            matches = _checkpoint_matches(conn, _Sealed(**{k: row[k] for k in _Sealed.__dataclass_fields__}),
                                          row["expected_prev"], row["after"])
        if not matches:
            found.checkpoint.append(_checkpoint_problem(row["id"], row["period"]))
            break
    return found


@dataclass
class _Sealed:
    id: int
    period: str
    prev_hash: str
    hash: str
    tx_count: int
    last_tx_id: int


def checkpoints_public(session: Session, limit: int) -> dict:
    """The ledger position and the newest `limit` checkpoints, newest first."""
    rows = session.execute(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(limit)).scalars()
    return {"position": ledger_position(session),
            "checkpoints": [{"period": c.period, "first_tx_id": c.first_tx_id, "last_tx_id": c.last_tx_id,
                             "tx_count": c.tx_count, "prev_hash": c.prev_hash, "hash": c.hash}
                            for c in rows]}
