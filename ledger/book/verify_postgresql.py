"""`verify` on PostgreSQL: every check in the database, on two connections over one snapshot,
but the ledger key's: the database hashes each transaction's content, Python keys the digests.

The key never goes to the database (a bind parameter of a slow statement is written to the
server's log, and the server is the insider's).  Keying in Python is also the cheaper of the
two: pgcrypto's hmac() over a digest cost 8.6 µs a call here, `hashing.Keyed` 1.5 µs.
"""
from __future__ import annotations

import binascii
import threading
from dataclasses import dataclass, field
from queue import Empty, Queue

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ledger.book import problems as words
from ledger.book.checkpoints import GENESIS, Sealed, check_chain, checkpoint_matches
from ledger.book.hashing import Keyed
from ledger.book.keys import book_keys
from ledger.book.problems import LIMIT, VerifyReport
from ledger.book.tables import Account, Transaction
from ledger.book.verify import FIRST_ID

#
# One pass over the postings per range of transaction ids (merge join of the two primary
# orders, no sort but the few legs of each transaction) recomputes each content's SHA-256
# (sent back with the stored hash, 104 bytes a transaction, keyed and compared in Python: see
# `wrong_hashes`), the postings' dates and the balance per unit of measure, and merges in the range's key rows
# (`transaction_keys`, one per transaction); the cached balances and the minutes
# per year are two aggregates over the postings; the checkpoint chain is hashed by the
# database too.  The work is cut into tasks that `workers` read-only REPEATABLE READ
# connections, all on the snapshot exported by the caller's transaction, take from a queue:
# the server uses both cores and only the digests and the offending ids come back to Python.

# The canonical content of `hashing.canonical`, built by PostgreSQL itself, over a
# transaction `t` and its legs `l.legs` (LEGS_SQL, aggregated over its postings).
CANONICAL_SQL = """'{"actor":' || to_json(t.actor)::text || ',"key":' || to_json(t.idempotency_key)::text ||
  ',"kind":' || to_json(t.kind)::text || ',"memo":' || to_json(coalesce(t.memo, ''))::text ||
  ',"occurred_on":"' || to_char(t.occurred_on, 'YYYY-MM-DD') || '","policy_version_id":' ||
  coalesce(t.policy_version_id::text, 'null') || ',"postings":[' || coalesce(l.legs, '') ||
  '],"reverses_id":' || coalesce(t.reverses_id::text, 'null') || ',"service_record_id":' ||
  coalesce(t.service_record_id::text, 'null') || ',"unit_id":' || coalesce(t.unit_id::text, 'null') ||
  ',"volunteer_id":' || coalesce(t.volunteer_id::text, 'null') || '}'"""
LEGS_SQL = """string_agg('[' || account_id || ',' ||
    CASE uom WHEN 'MIN' THEN '"MIN"' WHEN 'PTS' THEN '"PTS"' ELSE to_json(uom)::text END ||
    ',' || amount || ',' || coalesce(volunteer_id::text, 'null') || ',' || coalesce(unit_id::text, 'null') || ']',
    ',' ORDER BY account_id, uom COLLATE "C", amount, volunteer_id, unit_id)"""

# The canonical JSON of `hashing.canonical` (CANONICAL_SQL): keys in sorted
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
_HASH_TEMPLATE = """
SELECT count(id), coalesce(sum(n), 0), string_agg(packed, ''::bytea),
       (array_agg(id ORDER BY id) FILTER (WHERE is_date_wrong))[1:20],
       (array_agg(row_id ORDER BY row_id) FILTER (WHERE is_unbalanced))[1:20],
       (array_agg(key_id ORDER BY key_id, key_wrong) FILTER (WHERE key_wrong IS NOT NULL))[1:20],
       (array_agg(key_wrong ORDER BY key_id, key_wrong) FILTER (WHERE key_wrong IS NOT NULL))[1:20],
       (array_agg(row_id ORDER BY row_id) FILTER (WHERE id IS NULL AND n > 0))[1:20],
       (array_agg(n ORDER BY row_id) FILTER (WHERE id IS NULL AND n > 0))[1:20]
FROM (
 SELECT c.id, c.row_id, c.n, c.is_date_wrong, c.is_unbalanced,
        int8send(c.id) || c.digest || CASE WHEN octet_length(c.content_hash) = 64
          THEN convert_to(c.content_hash, 'UTF8') ELSE decode(repeat('3f', 64), 'hex') END AS packed,
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
         sha256(convert_to(@CANONICAL@, 'UTF8')) AS digest, t.content_hash,
         coalesce(l.lo <> t.occurred_on OR l.hi <> t.occurred_on, false) AS is_date_wrong,
         coalesce(l.unbalanced, false) AS is_unbalanced
  FROM (SELECT * FROM transactions WHERE id > :after AND id <= :upto) AS t
  FULL JOIN (
    SELECT transaction_id, count(*) AS n, min(occurred_on) AS lo, max(occurred_on) AS hi,
           @LEGS@ AS legs,
           sum(amount) FILTER (WHERE uom = 'MIN') <> 0 OR sum(amount) FILTER (WHERE uom = 'PTS') <> 0
             OR bool_or(uom NOT IN ('MIN', 'PTS')) AS unbalanced
    FROM postings WHERE transaction_id > :after AND transaction_id <= :upto
    GROUP BY transaction_id) l ON l.transaction_id = t.id
  ORDER BY row_id OFFSET 0) AS c
 FULL JOIN (SELECT transaction_id, idempotency_key, occurred_on, reverses_id FROM transaction_keys
            WHERE transaction_id > :after AND transaction_id <= :upto) AS k ON k.transaction_id = c.row_id
 OFFSET 0) AS checked"""
_HASH_SQL = text(_HASH_TEMPLATE.replace("@CANONICAL@", CANONICAL_SQL).replace("@LEGS@", LEGS_SQL))
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
  SELECT id, period, kind, note, first_tx_id, last_tx_id, tx_count, prev_hash, hash, signature,
         lag(hash, 1, :genesis) OVER (ORDER BY id) AS expected_prev,
         CASE WHEN kind = 'rehash' THEN 0::bigint ELSE lag(last_tx_id, 1, 0::bigint) OVER (ORDER BY id) END AS after,
         id >= coalesce(max(id) FILTER (WHERE kind = 'rehash') OVER (), 0) AS is_checked
  FROM checkpoints)
SELECT c.*, CASE WHEN c.is_checked AND c.last_tx_id - c.after <= :in_sql THEN s.digest END AS digest, s.n
FROM c LEFT JOIN LATERAL (
  SELECT encode(sha256(convert_to(c.expected_prev || coalesce(
           string_agg(E'\\n' || t.id || ':' || t.content_hash, '' ORDER BY t.id), ''), 'UTF8')), 'hex') AS digest,
         count(*) AS n
  FROM transactions t
  WHERE c.is_checked AND t.id > c.after AND t.id <= c.last_tx_id AND c.last_tx_id - c.after <= :in_sql) AS s ON true
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


def verify_postgresql(session: Session, workers: int) -> VerifyReport:
    conn = session.connection()
    top = conn.execute(select(func.coalesce(func.max(Transaction.id), 0))).scalar_one()
    keys = book_keys(session)
    tasks = [_balances_task, _year_minutes_task, _checkpoints_task(keys.public_keys)]
    width = min(SQL_RANGE, max(MIN_RANGE, -(-top // max(1, workers * RANGES_PER_WORKER))))
    starts = list(range(0, top, width)) or [0]
    # the first and last ranges are open: whatever the snapshot holds before the first id
    # (a key row without its transaction, say) or past `top` is checked too
    keyed = Keyed(keys.ledger_key)
    tasks += [_hash_task(after or FIRST_ID, after + width if after + width < top else LAST_ID, keyed)
              for after in starts]
    found = _run(conn, tasks, workers if not session.in_nested_transaction() else 1)
    report = VerifyReport()
    flagged, key_rows, orphans, unbalanced = [], [], [], []
    for part in found:
        report.transactions += part.transactions
        report.postings += part.postings
        report.accounts += part.accounts
        report.checkpoints += part.checkpoints
        flagged += part.flagged
        key_rows += part.keys
        orphans += part.orphans
        unbalanced += part.unbalanced
    by_id: dict[int, list] = {}
    for tx_id, hash_wrong, is_date_wrong in flagged:  # a transaction's hash, then its dates, as in Python
        entry = by_id.setdefault(tx_id, ["", False])
        entry[0], entry[1] = entry[0] or hash_wrong, entry[1] or is_date_wrong
    for tx_id, (hash_wrong, is_date_wrong) in sorted(by_id.items()):
        if hash_wrong and len(report.problems) < LIMIT:
            report.problems.append((words.unkeyed_problem if hash_wrong == "unkeyed" else words.hash_problem)(tx_id))
        if is_date_wrong and len(report.problems) < LIMIT:
            report.problems.append(words.date_problem(tx_id))
    report.problems += [words.key_problem(*p) for p in sorted(key_rows)[:LIMIT]]
    report.problems += [words.orphan_problem(*p) for p in sorted(orphans)[:LIMIT]]
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


def _hash_task(after: int, upto: int, keyed: Keyed):
    def task(conn) -> _Found:
        _settings(conn, _HASH_PLAN)
        (count, postings, packed, date_wrong, unbalanced, key_ids, key_wrong,
         orphan_ids, orphan_postings) = conn.execute(_HASH_SQL, {"after": after, "upto": upto}).one()
        found = _Found(transactions=count, postings=int(postings),
                       flagged=[(tx_id, "", True) for tx_id in date_wrong or ()],
                       keys=list(zip(key_ids or (), key_wrong or ())),
                       orphans=list(zip(orphan_ids or (), orphan_postings or ())))
        found.flagged += wrong_hashes(keyed, packed or b"")
        if unbalanced:  # which unit of measure, and by how much, for the first ones
            found.unbalanced = [words.balanced_problem(*row) for row in conn.execute(_BALANCED_SQL, {"ids": unbalanced})]
        return found
    return task


def wrong_hashes(keyed: Keyed, packed: bytes) -> list[tuple[int, str, bool]]:
    """(id, "hash" or "unkeyed", False) for the first LIMIT transactions, by id, whose stored
    hash is not the keyed hash of their digest; `packed`: per transaction its id (8 bytes), the
    SHA-256 of its content (32) and its stored hash (64 ASCII hex digits), in any order."""
    wrong: list[int] = []
    hex_bytes, view = keyed.hex_bytes, memoryview(packed)
    for offset in range(0, len(packed), 104):
        if hex_bytes(view[offset + 8:offset + 40]) != view[offset + 40:offset + 104]:
            wrong.append(offset)
            if len(wrong) > 50 * LIMIT:  # a wrong key: every row; keep the first ids only
                wrong = sorted(wrong, key=lambda at: int.from_bytes(packed[at:at + 8], "big", signed=True))[:LIMIT]
    found = []
    for offset in wrong:
        tx_id = int.from_bytes(packed[offset:offset + 8], "big", signed=True)
        is_unkeyed = binascii.hexlify(packed[offset + 8:offset + 40]) == packed[offset + 40:offset + 104]
        found.append((tx_id, "unkeyed" if is_unkeyed else "hash", False))
    return sorted(found)[:LIMIT]


def _balances_task(conn) -> _Found:
    _settings(conn, _AGGREGATE_PLAN)
    rows = conn.execute(_BALANCES_SQL).all()
    accounts = conn.execute(select(func.count()).select_from(Account)).scalar_one()
    return _Found(accounts=accounts, balances=[words.balance_problem(*row) for row in rows])


def _year_minutes_task(conn) -> _Found:
    _settings(conn, _AGGREGATE_PLAN)
    return _Found(year_minutes=[words.year_problem(*row) for row in conn.execute(_YEAR_MINUTES_SQL)])


def _checkpoints_task(public_keys: tuple[str, ...]):
    def task(conn) -> _Found:
        _settings(conn, _AGGREGATE_PLAN)
        rows = {row["id"]: row for row in conn.execute(
            _CHECKPOINTS_SQL, {"genesis": GENESIS, "in_sql": CHAIN_IN_SQL}).mappings()}

        def matches(checkpoint: Sealed, prev_hash: str, after: int) -> bool:
            row = rows[checkpoint.id]
            if row["digest"] is None:  # too long for one string in the database: stream it here
                return checkpoint_matches(conn, checkpoint, prev_hash, after)
            return checkpoint.prev_hash == prev_hash and checkpoint.hash == row["digest"] and checkpoint.tx_count == row["n"]

        sealed = [Sealed(**{name: row[name] for name in Sealed.__dataclass_fields__}) for row in rows.values()]
        count, problem = check_chain(sealed, public_keys, matches)
        return _Found(checkpoints=count, checkpoint=[problem] if problem else [])
    return task
