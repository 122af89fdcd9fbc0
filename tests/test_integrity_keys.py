"""`verify` proves that `transaction_keys` agrees with `transactions`, one row each: a key row
changed, missing or left without its transaction behind the ledger's back is named, on both
engines, in id order after the hashes and dates, the same whatever the ranges and connections
on PostgreSQL; a clean ledger verifies with every row counted once."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from ledger.book.postings import reverse
from tests.test_integrity import (
    DAY,
    _behind_the_ledgers_back,
    _ledger,
    _report,
    one_id_per_range,  # noqa: F401 - the fixture
)

CHANGED_KEY = "the key row's idempotency_key differs from its transaction's"
CHANGED_DATE = "the key row's occurred_on differs from its transaction's"
CHANGED_REVERSAL = "the key row's reverses_id differs from its transaction's"
MISSING = "the transaction has no row in transaction_keys"
ORPHAN = "a key row names no transaction"
ORPHAN_POSTINGS = "5 postings name transaction {}, which does not exist"  # the 5 legs of _ledger's


def _named(report: dict) -> list[tuple]:
    return [(p["check"], p["table"], p["row"], p["detail"]) for p in report["problems"]]


def _key(tx_id: int, detail: str) -> tuple:
    return ("transaction_key", "transaction_keys", tx_id, detail)


def _same_whatever_the_connections(ctx, report: dict) -> None:
    if not ctx.is_sqlite:  # one connection, two, three; a range per id (one_id_per_range)
        assert report == _report(ctx, workers=1) == _report(ctx, workers=3)


def _counts(ctx) -> dict:
    with ctx.engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("transactions", "transaction_keys", "postings")}


def _reversal(ctx, original: int) -> int:
    with ctx.uow() as uow:
        tx = reverse(uow.session, original, actor="test", occurred_on=DAY + dt.timedelta(days=3), memo="录入错误")
        uow.commit()
        return tx.id


def test_a_clean_ledger_verifies_with_every_row_counted_once(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 4)
    _reversal(ctx, ids[1])  # a key row with a reverses_id
    counts = _counts(ctx)
    report = _report(ctx)
    assert report["ok"], report["problems"]
    assert counts["transaction_keys"] == counts["transactions"]
    assert (report["transactions"], report["postings"]) == (counts["transactions"], counts["postings"])
    _same_whatever_the_connections(ctx, report)


def test_a_key_row_whose_idempotency_key_was_changed(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 4)
    _behind_the_ledgers_back(ctx, ("UPDATE transaction_keys SET idempotency_key = 'stolen' "
                                   "WHERE transaction_id = :t", {"t": ids[2]}))
    report = _report(ctx)
    assert _named(report) == [_key(ids[2], CHANGED_KEY)]
    _same_whatever_the_connections(ctx, report)


def test_a_key_row_whose_reverses_id_was_changed(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 4)
    reversal = _reversal(ctx, ids[0])
    # the key row no longer says what it reverses: ids[0] could be reversed again
    _behind_the_ledgers_back(ctx, ("UPDATE transaction_keys SET reverses_id = :r WHERE transaction_id = :t",
                                   {"t": reversal, "r": ids[3]}))
    report = _report(ctx)
    assert _named(report) == [_key(reversal, CHANGED_REVERSAL)]
    _same_whatever_the_connections(ctx, report)


def test_a_key_row_whose_date_was_changed(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 3)
    _behind_the_ledgers_back(ctx, ("UPDATE transaction_keys SET occurred_on = :d, idempotency_key = 'moved' "
                                   "WHERE transaction_id = :t", {"t": ids[1], "d": DAY + dt.timedelta(days=40)}))
    report = _report(ctx)
    assert _named(report) == [_key(ids[1], "the key row's idempotency_key, occurred_on differ from its "
                                           "transaction's")]
    _behind_the_ledgers_back(ctx, ("UPDATE transaction_keys SET idempotency_key = (SELECT idempotency_key "
                                   "FROM transactions WHERE id = :t) WHERE transaction_id = :t", {"t": ids[1]}))
    report = _report(ctx)
    assert _named(report) == [_key(ids[1], CHANGED_DATE)]
    _same_whatever_the_connections(ctx, report)


def test_a_transaction_whose_key_row_was_deleted(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 4)
    _behind_the_ledgers_back(ctx, ("DELETE FROM transaction_keys WHERE transaction_id = :t", {"t": ids[1]}))
    report = _report(ctx)
    assert _named(report) == [_key(ids[1], MISSING)]
    assert report["transactions"] == _counts(ctx)["transactions"]
    _same_whatever_the_connections(ctx, report)


def test_a_key_row_whose_transaction_was_deleted(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 4)
    _behind_the_ledgers_back(ctx, ("DELETE FROM transactions WHERE id = :t", {"t": ids[2]}))
    report = _report(ctx)
    assert _named(report) == [_key(ids[2], ORPHAN),  # and its postings, left too
                              ("posting_orphan", "postings", ids[2], ORPHAN_POSTINGS.format(ids[2]))]
    assert report["transactions"] == _counts(ctx)["transactions"]  # the key row is not counted as one
    _same_whatever_the_connections(ctx, report)


def test_key_rows_without_a_transaction_before_the_first_id_and_past_the_last(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 2)
    forged = "INSERT INTO transaction_keys (transaction_id, idempotency_key, occurred_on) VALUES (:t, :k, :d)"
    _behind_the_ledgers_back(ctx, (forged, {"t": ids[-1] + 1000, "k": "forged-late", "d": DAY}),
                             (forged, {"t": -7, "k": "forged-early", "d": DAY}))
    report = _report(ctx)
    assert _named(report) == [_key(-7, ORPHAN), _key(ids[-1] + 1000, ORPHAN)]
    _same_whatever_the_connections(ctx, report)


def test_key_problems_come_in_id_order_after_the_hashes_and_before_the_balances(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, volunteer = _ledger(ctx, 8)
    _behind_the_ledgers_back(
        ctx,
        ("DELETE FROM transaction_keys WHERE transaction_id = :t", {"t": ids[6]}),
        ("UPDATE transaction_keys SET idempotency_key = 'stolen' WHERE transaction_id = :t", {"t": ids[2]}),
        ("DELETE FROM transactions WHERE id = :t", {"t": ids[4]}),
        ("UPDATE transactions SET memo = 'changed' WHERE id = :t", {"t": ids[5]}),
        ("UPDATE postings SET amount = amount * 2 WHERE transaction_id = :t AND uom = 'MIN' AND amount > 0",
         {"t": ids[1]}))
    report = _report(ctx)
    named = [(p["check"], p["row"]) for p in report["problems"]]
    assert named[:7] == [("transaction_hash", ids[1]), ("transaction_hash", ids[5]),
                         ("transaction_key", ids[2]), ("transaction_key", ids[4]), ("transaction_key", ids[6]),
                         ("posting_orphan", ids[4]), ("balanced", ids[1])]
    assert [p["detail"] for p in report["problems"][2:5]] == [CHANGED_KEY, ORPHAN, MISSING]
    assert [check for check, _ in named[7:]] == ["balance", "year_minutes"]
    _same_whatever_the_connections(ctx, report)


def test_no_more_than_twenty_key_problems(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 23)
    _behind_the_ledgers_back(ctx, ("DELETE FROM transaction_keys WHERE transaction_id >= :t", {"t": ids[0]}))
    report = _report(ctx)
    assert _named(report) == [_key(tx_id, MISSING) for tx_id in ids[:20]]
    _same_whatever_the_connections(ctx, report)
