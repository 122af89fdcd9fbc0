"""`verify` on both engines: the same report whichever way it is computed (the SQL passes on
PostgreSQL on one connection or several over one snapshot, the Python path on SQLite), the
first offending rows named in id order across the ranges it cuts the ledger into, the
checkpoint chain hashed by the database as `chain_hash` hashes it, and nothing written."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from ledger.book import integrity, verify_postgresql
from ledger.book.accounts import MINUTES, POINTS, account_id
from ledger.book.integrity import chain_hash, seal_period, verify
from ledger.book.postings import Leg, post
from tests import factories as f

DAY = dt.date(2026, 3, 2)


def _ledger(ctx, count: int = 8) -> tuple[list[int], int]:
    """`count` transactions of a volunteer's minutes and points, each committed on its own.

    The legs are written in the reverse of their canonical order (accounts opened in one
    order, posted in the other; two legs on one account), so that the hash only matches
    when the legs are sorted as `content_hash` sorts them.
    """
    units = f.tree(ctx)
    volunteer = f.volunteer(ctx, units["station_a"])
    with ctx.uow() as uow:
        s = uow.session
        minutes, away_minutes, points, away_points = (
            account_id(s, "volunteer_minutes", volunteer), account_id(s, "deployment_minutes", 1),
            account_id(s, "volunteer_points", volunteer), account_id(s, "deployment_points", 1))
        uow.commit()
    assert minutes < points and away_minutes < away_points
    ids = []
    for n in range(count):
        with ctx.uow() as uow:
            tx = post(uow.session, kind="test_integrity", key=f.ref("integrity"), occurred_on=DAY, actor="test",
                      memo=f"第{n}笔 \"quoted\"\n", volunteer_id=volunteer, legs=[
                          Leg(away_points, POINTS, -3, volunteer, None),
                          Leg(points, POINTS, 3, volunteer, units["station_a"]),
                          Leg(away_minutes, MINUTES, -(30 + n), volunteer, None),
                          Leg(minutes, MINUTES, 20, volunteer, units["station_a"]),
                          Leg(minutes, MINUTES, 10 + n, volunteer, units["station_b"])])
            ids.append(tx.id)
            uow.commit()
    return ids, volunteer


def _behind_the_ledgers_back(ctx, *statements: tuple[str, dict]) -> None:
    """Change or delete ledger rows as a superuser can: past the append-only triggers and the
    foreign keys (on SQLite the triggers are dropped, and the foreign keys switched off on this
    connection, which SQLite allows only outside a transaction, then on again)."""
    with ctx.engine.connect() as conn:
        if ctx.is_sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                if not ctx.is_sqlite:  # as superuser: no append-only trigger, no foreign key check
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                else:
                    for table in ("postings", "transactions", "checkpoints", "transaction_keys"):
                        for verb in ("update", "delete"):
                            conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
                for statement, params in statements:
                    conn.execute(text(statement), params)
        finally:
            if ctx.is_sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")


def _report(ctx, **options) -> dict:
    with ctx.uow() as uow:
        return verify(uow.session, **options).as_dict()


@pytest.fixture
def one_id_per_range(monkeypatch):
    """Cut the ledger into ranges of one transaction id: many tasks, some past the data."""
    monkeypatch.setattr(verify_postgresql, "MIN_RANGE", 1)
    monkeypatch.setattr(verify_postgresql, "RANGES_PER_WORKER", 10_000)


def test_a_clean_ledger_verifies_and_counts_every_row(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 5)
    report = _report(ctx)
    assert report["ok"], report["problems"]
    assert report["transactions"] >= len(ids) and report["postings"] >= 5 * len(ids)
    assert report == _report(ctx, workers=1)


def test_the_caller_s_connection_does_the_work_when_no_helper_can_connect(fresh_ctx, one_id_per_range,
                                                                          monkeypatch):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 3)
    _behind_the_ledgers_back(ctx, ("UPDATE transactions SET memo = 'changed' WHERE id = :t", {"t": ids[1]}))
    expected = _report(ctx)
    monkeypatch.setattr(verify_postgresql, "_helper", lambda *args: None)  # as if every connect failed
    assert _report(ctx) == expected
    assert [p["row"] for p in expected["problems"]] == [ids[1]]


def test_the_first_offending_rows_are_named_in_order_whatever_the_ranges(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, volunteer = _ledger(ctx, 8)
    doubled, moved, rewritten = ids[1], ids[4], ids[6]
    _behind_the_ledgers_back(
        ctx,
        ("UPDATE postings SET amount = amount * 2 WHERE transaction_id = :t AND uom = 'MIN' AND amount > 0",
         {"t": doubled}),
        ("UPDATE postings SET occurred_on = :d WHERE transaction_id = :t", {"t": moved, "d": DAY + dt.timedelta(days=1)}),
        ("UPDATE transactions SET memo = 'changed' WHERE id = :t", {"t": rewritten}))
    report = _report(ctx)
    named = [(p["check"], p["row"]) for p in report["problems"]]
    minutes = [p for p in report["problems"] if p["check"] == "balance"]
    assert named[:4] == [("transaction_hash", doubled), ("posting_date", moved), ("transaction_hash", rewritten),
                         ("balanced", doubled)]
    assert report["problems"][3]["detail"] == "MIN postings sum to 31, not 0"
    assert len(minutes) == 1 and "but postings sum to" in minutes[0]["detail"]
    assert [p["check"] for p in report["problems"][5:]] == ["year_minutes"]
    assert report["problems"][5]["row"] == volunteer
    assert not report["ok"]
    if not ctx.is_sqlite:  # one connection, two, or many tiny ranges: the same report
        assert report == _report(ctx, workers=1) == _report(ctx, workers=3)


def test_no_more_than_twenty_problems_per_check(fresh_ctx, one_id_per_range):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 23)
    _behind_the_ledgers_back(ctx, ("UPDATE transactions SET memo = 'changed' WHERE id >= :t", {"t": ids[0]}))
    report = _report(ctx)
    assert [p["row"] for p in report["problems"]] == ids[:20]
    assert {p["check"] for p in report["problems"]} == {"transaction_hash"}


def test_the_checkpoint_chain_is_hashed_as_chain_hash_does(fresh_ctx, monkeypatch):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 2)
    periods = []
    for n in range(3):  # three seals, the last one over nothing new
        with ctx.uow() as uow:
            periods.append(seal_period(uow.session, f"p{n}", dt.datetime.now(dt.timezone.utc)
                                       + dt.timedelta(seconds=1)))
            uow.commit()
        if n == 0:
            ids += _ledger(ctx, 1)[0]
    assert periods[0].hash == chain_hash(integrity.GENESIS, [(i, _hash_of(ctx, i)) for i in ids[:2]])
    assert periods[2].tx_count == 0 and periods[2].prev_hash == periods[1].hash
    assert _report(ctx)["checkpoints"] == 3 and _report(ctx)["ok"]
    monkeypatch.setattr(verify_postgresql, "CHAIN_IN_SQL", 0)  # the chain hashed in Python, streamed
    assert _report(ctx)["checkpoints"] == 3 and _report(ctx)["ok"]
    monkeypatch.undo()
    _behind_the_ledgers_back(ctx, ("UPDATE checkpoints SET tx_count = tx_count + 1 WHERE id = :c",
                                   {"c": periods[1].id}))
    report = _report(ctx)
    assert [(p["check"], p["row"]) for p in report["problems"]] == [("checkpoint", periods[1].id)]
    assert report["checkpoints"] == 2  # the chain stops at the first seal that does not match
    monkeypatch.setattr(verify_postgresql, "CHAIN_IN_SQL", 0)
    assert _report(ctx) == report


def _hash_of(ctx, tx_id: int) -> str:
    with ctx.engine.connect() as conn:
        return conn.execute(text("SELECT content_hash FROM transactions WHERE id = :t"), {"t": tx_id}).scalar_one()


def test_verify_sees_what_its_own_transaction_wrote_and_writes_nothing(fresh_ctx):
    ctx = fresh_ctx
    _ledger(ctx, 2)
    with ctx.uow() as uow:
        seal_period(uow.session, "unsaved", dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
        if not ctx.is_sqlite:  # the app's connections run without JIT; turned on here to see it restored
            uow.session.execute(text("SET LOCAL jit = on"))
        report = verify(uow.session)  # not committed: only this transaction sees the seal
        assert report.ok and report.checkpoints == 1
        if not ctx.is_sqlite:
            assert _jit(uow.session) == "on"
    with ctx.uow() as uow:
        before = None if ctx.is_sqlite else _jit(uow.session)
        report = verify(uow.session)
        assert report.ok and report.checkpoints == 0
        if not ctx.is_sqlite:  # a read: no transaction id was taken, the planner's settings are back
            assert uow.session.execute(text("SELECT txid_current_if_assigned()")).scalar_one() is None
            assert _jit(uow.session) == before == "off"  # as the app's connections have it


def _jit(session) -> str:
    return session.execute(text("SELECT current_setting('jit')")).scalar_one()
