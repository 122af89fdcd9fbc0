"""Backup and restore: `ledger backup FILE`, `ledger restore FILE` into a fresh database, then
`ledger verify` passes and every balance, transaction and checkpoint came back."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select, text

from api.cli import main
from ledger.book.integrity import seal_period
from ledger.book.keys import derived
from ledger.book.tables import Account, Checkpoint, Posting, Transaction
from ledger.service.records import reverse_record
from ledger.store.db import make_engine
from ledger.store.tables import AuditEntry
from ledger.store.usecase import write_once
from tests import factories as f
from tests.conftest import SECRET, create_pg_database, drop_pg_database


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {
            "transactions": conn.execute(select(func.count()).select_from(Transaction)).scalar_one(),
            "postings": conn.execute(select(func.count()).select_from(Posting)).scalar_one(),
            "checkpoints": [tuple(r) for r in conn.execute(
                select(Checkpoint.period, Checkpoint.hash).order_by(Checkpoint.id))],
            "balances": sorted(tuple(r) for r in conn.execute(
                select(Account.kind, Account.owner_id, Account.balance))),
            "audit": conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
        }


def _some_ledger(ctx) -> None:
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    activity = f.activity(ctx, units["station_a"], dt.date(2026, 3, 10))
    start = dt.datetime(2026, 3, 10, 9, 0)
    volunteers = [f.volunteer(ctx, units["station_a"]) for _ in range(3)]
    records = [f.served(ctx, recorder, approver, v, activity, start, 90 + 30 * n)
               for n, v in enumerate(volunteers)]
    write_once(ctx, lambda s: reverse_record(s, approver, records[0], "录入错误", dt.date(2026, 3, 11)))
    write_once(ctx, lambda s: seal_period(s, "backup-test", dt.datetime.now(dt.timezone.utc)))


def _cli(*args: str) -> int:
    return main(list(args))


@pytest.fixture(autouse=True)
def keys_beside_the_backup(tmp_path, monkeypatch):
    """The deployment's keys, kept apart from the database (its settings and its data
    directory): the command line gets the ones the test context wrote the ledger under."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    pem = derived(SECRET).signing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (data_dir / "deployment_key.pem").write_bytes(pem)
    monkeypatch.setenv("LEDGER_SECRET_KEY", SECRET.decode())
    monkeypatch.setenv("LEDGER_DATA_DIR", str(data_dir))


@pytest.fixture
def empty_target(fresh_ctx, tmp_path):
    """A fresh, empty database of the same engine as `fresh_ctx`."""
    if fresh_ctx.is_sqlite:
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def test_backup_restore_into_a_fresh_database_then_verify(fresh_ctx, empty_target, tmp_path, capsys):
    _some_ledger(fresh_ctx)
    source = _url(fresh_ctx.engine)
    before = _snapshot(fresh_ctx.engine)
    backup_file = tmp_path / "backups" / "ledger.backup"

    assert _cli("--database-url", source, "backup", str(backup_file)) == 0
    assert backup_file.stat().st_size > 0
    assert _cli("--database-url", empty_target, "restore", str(backup_file)) == 0
    capsys.readouterr()
    assert _cli("--database-url", empty_target, "verify") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True, report

    restored = make_engine(empty_target)
    try:
        assert _snapshot(restored) == before
        assert before["transactions"] == 4  # 3 services and 1 reversal
        # the restored ledger is still append-only: the database refuses to change history
        with pytest.raises(Exception):
            with restored.begin() as conn:
                conn.execute(text("UPDATE postings SET amount = amount + 1"))
    finally:
        restored.dispose()


def test_restore_refuses_a_database_that_has_data(fresh_ctx, tmp_path, capsys):
    _some_ledger(fresh_ctx)
    source = _url(fresh_ctx.engine)
    backup_file = tmp_path / "ledger.backup"
    assert _cli("--database-url", source, "backup", str(backup_file)) == 0
    capsys.readouterr()
    assert _cli("--database-url", source, "restore", str(backup_file)) == 2
    refused = json.loads(capsys.readouterr().out)
    assert (refused["code"], refused["field"]) == ("conflict", "database_url")
    assert _snapshot(fresh_ctx.engine)["transactions"] == 4  # nothing was touched


def test_restore_names_a_missing_file(tmp_path, capsys):
    target = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert _cli("--database-url", target, "restore", str(tmp_path / "nope.backup")) == 2
    assert json.loads(capsys.readouterr().out)["field"] == "file"
