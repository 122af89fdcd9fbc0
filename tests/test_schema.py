"""The schema: Alembic builds it on both engines, models and migrations agree, ledger rows
cannot be changed or deleted, and verify catches a row changed behind the ledger's back."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import ledger.schema  # noqa: F401  (registers every table on the metadata)
from ledger.book.integrity import seal_period, verify
from ledger.store.db import Base
from tests import factories as f

NOT_OURS = {"apscheduler_jobs"}  # APScheduler's job store table, made by the first migration


# months of postings (0013) and transactions (0015) on PostgreSQL
PARTITION = re.compile(r"^(postings|transactions)_(y\d{4}m\d{2}|default)$")

# What partitioning `transactions` (revision 0015) changes on PostgreSQL only: the models keep
# the plain shape SQLite has.  A partitioned table holds no unique key without its partition
# key, so the ledger-wide keys live in `transaction_keys`, and what referenced
# `transactions.id` references the key row (or, for postings, (id, occurred_on)).
POSTGRESQL_ONLY = {
    ("add_constraint", "transactions", "idempotency_key"),
    ("add_constraint", "transactions", "reverses_id"),
    ("remove_fk", "fk_postings_transaction"), ("add_fk", "fk_postings_transaction_id_transactions"),
    ("remove_fk", "fk_transaction_keys_transaction"),
    ("add_fk", "fk_transaction_keys_transaction_id_transactions"),
    ("remove_fk", "fk_transactions_reverses_id_transaction_keys"),
    ("add_fk", "fk_transactions_reverses_id_transactions"),
    *((verb, f"fk_{table}_transaction_id_{target}")
      for table in ("star_events", "volunteer_transfers", "transfer_packages")
      for verb, target in (("remove_fk", "transaction_keys"), ("add_fk", "transactions"))),
}


def _include(obj, name, type_, reflected, compare_to):
    if type_ == "table":
        return name not in NOT_OURS and not PARTITION.match(name)
    if type_ == "foreign_key_constraint" and PARTITION.match(obj.referred_table.name):
        return False  # PostgreSQL's clones of a key that references a partitioned table
    table = getattr(obj, "table", None)  # a partition's own copies of the parent's indexes
    return table is None or not PARTITION.match(table.name)


def _named(entry) -> tuple:
    verb, obj = entry[0], entry[1]
    if verb == "add_constraint":
        return (verb, obj.table.name, *sorted(c.name for c in obj.columns))
    return (verb, getattr(obj, "name", None) or repr(obj))


def test_models_and_migrations_do_not_drift(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _include,
                                                          "compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    expected = POSTGRESQL_ONLY if engine.dialect.name == "postgresql" else set()
    found = [_named(entry) for entry in diff]
    assert sorted(found) == sorted(expected), f"models and migrations differ: {diff}"


def _posted(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 2))
    f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime(2026, 11, 2, 9), 60)
    return volunteer_id


@pytest.mark.parametrize("statement", [
    "UPDATE postings SET amount = amount + 1",
    "DELETE FROM postings",
    "UPDATE transactions SET memo = 'changed'",
    "DELETE FROM transactions",
    "UPDATE audit_log SET action = 'changed'",
    "DELETE FROM audit_log",
])
def test_ledger_rows_cannot_be_updated_or_deleted(ctx, statement):
    _posted(ctx)
    with ctx.engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text(statement))
        conn.rollback()
    assert "append-only" in str(caught.value)


def test_verify_names_a_posting_changed_with_the_triggers_disabled(fresh_ctx):
    ctx = fresh_ctx
    _posted(ctx)
    with ctx.uow() as uow:
        seal_period(uow.session, "2026-11-02", dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
        uow.commit()
    with ctx.engine.begin() as conn:
        tx_id = conn.execute(text("SELECT min(transaction_id) FROM postings")).scalar_one()
        if ctx.is_sqlite:
            conn.execute(text("DROP TRIGGER postings_no_update"))
        else:  # as superuser, behind the ledger's back
            conn.execute(text("ALTER TABLE postings DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE postings SET amount = amount * 2 WHERE transaction_id = :t AND amount > 0"),
                     {"t": tx_id})
    with ctx.uow() as uow:
        report = verify(uow.session)
    assert not report.ok
    first = report.problems[0]
    assert first["check"] == "transaction_hash" and first["row"] == tx_id
    checks = {p["check"] for p in report.problems}
    assert {"balanced", "balance"} <= checks


def test_verify_names_a_checkpoint_that_was_rewritten(fresh_ctx):
    ctx = fresh_ctx
    _posted(ctx)
    with ctx.uow() as uow:
        seal_period(uow.session, "p1", dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
        uow.commit()
    with ctx.engine.begin() as conn:
        if ctx.is_sqlite:
            conn.execute(text("DROP TRIGGER checkpoints_no_update"))
        else:
            conn.execute(text("ALTER TABLE checkpoints DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE checkpoints SET hash = :h"), {"h": "f" * 64})
    with ctx.uow() as uow:
        report = verify(uow.session)
    assert [p["check"] for p in report.problems] == ["checkpoint"]
