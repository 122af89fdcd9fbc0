"""Revision 0015 (transactions partitioned by month on PostgreSQL, `transaction_keys` on both
engines) moves a ledger that has data both ways: down to the plain table and back up, with
every row, key and reversal kept, the foreign keys in place, and verify passing after each."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from alembic import command
from sqlalchemy import inspect, text

from ledger.book.integrity import verify
from ledger.store.db import make_engine
from ledger.store.migrate import alembic_config, upgrade
from ledger.store.uow import Context
from tests import factories as f
from tests.conftest import SECRET, create_pg_database, drop_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / ('m-' + secrets.token_hex(4) + '.sqlite3')}"
        return
    made = create_pg_database()
    yield made
    drop_pg_database(made)


def _ledger_rows(engine) -> tuple[list, list]:
    with engine.connect() as conn:
        transactions = conn.execute(text(
            "SELECT id, idempotency_key, occurred_on, reverses_id, content_hash FROM transactions ORDER BY id")).all()
        postings = conn.execute(text(
            "SELECT id, transaction_id, account_id, amount, occurred_on FROM postings ORDER BY id")).all()
    return transactions, postings


def _verified(engine) -> dict:
    ctx = Context(engine=engine, secret_key=SECRET, deployment_id="test-county")
    with ctx.uow() as uow:
        return verify(uow.session).as_dict()


def test_down_to_the_plain_table_and_back_up_keeps_every_row(url):
    upgrade(url)
    engine = make_engine(url)
    ctx = Context(engine=engine, secret_key=SECRET, deployment_id="test-county",
                  options={"transfer_future_limit_days": 30})
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(1999, 1, 1))  # before its first service
    for day in (dt.date(2025, 3, 4), dt.date(2025, 11, 20), dt.date(1999, 6, 1)):  # the last: DEFAULT
        activity = f.activity(ctx, units["station_a"], day)
        record = f.served(ctx, recorder, approver, volunteer, activity, dt.datetime.combine(day, dt.time(9)), 90)
    from ledger.service import records as service_records

    with ctx.uow() as uow:  # a reversal: its key row names what it reverses
        service_records.reverse_record(uow.session, approver, record, "录入错误", ctx.local_now().date())
        uow.commit()
    before = _ledger_rows(engine)
    assert len(before[0]) == 4 and any(row.reverses_id for row in before[0])
    assert _verified(engine)["ok"]
    engine.dispose()

    command.downgrade(alembic_config(url), "0014")
    engine = make_engine(url)
    assert "transaction_keys" not in inspect(engine).get_table_names()
    assert _ledger_rows(engine) == before
    unique = {tuple(c["column_names"]) for c in inspect(engine).get_unique_constraints("transactions")}
    assert {("idempotency_key",), ("reverses_id",)} <= unique
    engine.dispose()

    upgrade(url)
    engine = make_engine(url)
    assert _ledger_rows(engine) == before
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT transaction_id, idempotency_key, occurred_on, reverses_id "
                                 "FROM transaction_keys ORDER BY transaction_id")).all()
        if engine.dialect.name == "postgresql":
            assert conn.execute(text("SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                                     "ON c.oid = p.partrelid WHERE c.relname IN ('transactions', 'postings')"
                                     )).scalar_one() == 2
            old = conn.execute(text("SELECT tableoid::regclass::text FROM transactions "
                                    "WHERE occurred_on = '1999-06-01'")).scalar_one()
            assert old == "transactions_default"
    assert keys == [(t.id, t.idempotency_key, t.occurred_on, t.reverses_id) for t in before[0]]
    assert _verified(engine)["ok"]
    engine.dispose()
