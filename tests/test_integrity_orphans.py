"""`verify` names the postings whose transaction does not exist (deleted behind the ledger's
back, with its key row or without): on both engines, in id order right after the key rows'
problems, the first twenty, the same whatever the ranges and connections on PostgreSQL, and
every posting still counted; a clean ledger verifies with the same counts as before."""
from __future__ import annotations

from tests.test_integrity import (
    _behind_the_ledgers_back,
    _ledger,
    _report,
    one_id_per_range,  # noqa: F401 - the fixture
)
from tests.test_integrity_keys import ORPHAN, _counts, _key, _named, _same_whatever_the_connections


def _orphan(tx_id: int, postings: int = 5) -> tuple:  # _ledger's transactions have 5 legs
    named = "1 posting names" if postings == 1 else f"{postings} postings name"
    return ("posting_orphan", "postings", tx_id, f"{named} transaction {tx_id}, which does not exist")


def _deleted(*tx_ids: int) -> list[tuple[str, dict]]:
    """Delete transactions and their key rows, and leave their postings."""
    return [(statement, {"t": tx_id}) for tx_id in tx_ids
            for statement in ("DELETE FROM transaction_keys WHERE transaction_id = :t",
                              "DELETE FROM transactions WHERE id = :t")]


def test_a_clean_ledger_verifies_with_every_posting_counted(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    _ledger(ctx, 4)
    counts, report = _counts(ctx), _report(ctx)
    assert report["ok"], report["problems"]
    assert (report["transactions"], report["postings"]) == (counts["transactions"], counts["postings"])
    _same_whatever_the_connections(ctx, report)


def test_postings_of_a_transaction_deleted_with_its_key_row(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 4)
    _behind_the_ledgers_back(ctx, *_deleted(ids[1]))
    report = _report(ctx)
    assert _named(report) == [_orphan(ids[1])]
    counts = _counts(ctx)  # the orphans are still postings: counted, as every other posting
    assert (report["transactions"], report["postings"]) == (counts["transactions"], counts["postings"])
    _same_whatever_the_connections(ctx, report)


def test_orphans_of_the_first_and_the_last_transaction_and_past_them(fresh_ctx, one_id_per_range):
    """Below the first transaction left and past the last one: the open ends of the ranges
    (the batches on SQLite); one posting moved to an id no transaction ever had."""
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 4)
    _behind_the_ledgers_back(ctx, *_deleted(ids[0], ids[-1]),
                             ("UPDATE postings SET transaction_id = :far WHERE id = (SELECT min(id) FROM postings "
                              "WHERE transaction_id = :t)", {"t": ids[-1], "far": ids[-1] + 1000}))
    report = _report(ctx)
    far = ids[-1] + 1000
    assert _named(report)[:3] == [_orphan(ids[0]), _orphan(ids[-1], 4), _orphan(far, 1)]
    # the leg moved away leaves both groups unbalanced
    assert [(p["check"], p["row"]) for p in report["problems"][3:]] == [("balanced", ids[-1]), ("balanced", far)]
    assert report["postings"] == _counts(ctx)["postings"]
    _same_whatever_the_connections(ctx, report)


def test_orphans_come_after_the_key_rows_and_before_the_balances(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 6)
    _behind_the_ledgers_back(
        ctx, *_deleted(ids[3]),
        ("DELETE FROM transactions WHERE id = :t", {"t": ids[1]}),  # its key row left: a key orphan too
        # and one leg of an orphan doubled: it does not balance, as a transaction's would not
        ("UPDATE postings SET amount = amount * 2 WHERE transaction_id = :t AND uom = 'PTS' AND amount > 0",
         {"t": ids[3]}))
    report = _report(ctx)
    named = [(p["check"], p["row"]) for p in report["problems"]]
    assert named[:4] == [("transaction_key", ids[1]), ("posting_orphan", ids[1]), ("posting_orphan", ids[3]),
                         ("balanced", ids[3])]
    assert _named(report)[0] == _key(ids[1], ORPHAN)
    assert report["problems"][3]["detail"] == "PTS postings sum to 3, not 0"
    assert {check for check, _ in named[4:]} <= {"balance", "year_minutes"}
    _same_whatever_the_connections(ctx, report)


def test_no_more_than_twenty_orphans(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 23)
    _behind_the_ledgers_back(ctx, ("DELETE FROM transaction_keys WHERE transaction_id >= :t", {"t": ids[0]}),
                             ("DELETE FROM transactions WHERE id >= :t", {"t": ids[0]}))
    report = _report(ctx)
    assert _named(report) == [_orphan(tx_id) for tx_id in ids[:20]]
    assert report["transactions"] == 0 and report["postings"] == _counts(ctx)["postings"] == 5 * 23
    _same_whatever_the_connections(ctx, report)
