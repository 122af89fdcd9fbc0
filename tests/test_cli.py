"""The operators' command line, run as a real process on a fresh SQLite file:
upgrade → create-admin → import → approve-batch (by someone else) → verify → seal → verify,
and the refusals an operator will meet (bad file, same file twice, own batch, tampering)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.store.db import make_engine
from ledger.store.uow import Context
from tests import factories as f
from tests.test_imports import SAMPLE, WITH_ERRORS

ROOT = Path(__file__).resolve().parents[1]


def ledger(db: Path, *args: str) -> tuple[int, object]:
    """Run `ledger <args>` on the database; returns (exit code, parsed JSON or the text)."""
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{db}", "LEDGER_ENVIRONMENT": "local"}
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        return done.returncode, done.stdout + done.stderr


def stations(db: Path) -> None:
    """The three stations the sample 台账 names (set up through the domain, not the CLI)."""
    engine = make_engine(f"sqlite:///{db}")
    ctx = Context(engine=engine, secret_key=b"unused")
    units = f.tree(ctx)
    with ctx.uow() as uow:
        org.create_unit(uow.session, SYSTEM, org.CreateUnit("XH", "西湖社区新时代文明实践站", "station",
                                                            units["institute"]))
        uow.commit()
    engine.dispose()


def test_an_operator_imports_approves_verifies_and_seals(tmp_path):
    db = tmp_path / "cli.sqlite3"
    assert ledger(db, "upgrade") == (0, "schema is up to date\n")
    code, alice = ledger(db, "create-admin", "alice")
    assert code == 0 and alice["role"] == "admin" and len(alice["token"]) > 20
    assert ledger(db, "create-admin", "bob")[0] == 0
    stations(db)

    code, refused = ledger(db, "import", str(WITH_ERRORS), "--as-user", "alice")
    assert code == 2 and refused["code"] == "import_rejected"
    assert [r["row"] for r in refused["details"]["rows"]] == [2, 11, 26, 27, 30]

    code, imported = ledger(db, "import", str(SAMPLE), "--as-user", "alice")
    assert code == 0 and (imported["records"], imported["volunteers_created"]) == (40, 10)
    code, again = ledger(db, "import", str(SAMPLE), "--as-user", "alice")
    # the same file twice: every row overlaps a record already held, and nothing is imported
    assert code == 2 and len(again["details"]["rows"]) == 40
    assert {r["field"] for r in again["details"]["rows"]} == {"开始时间"}

    code, own = ledger(db, "approve-batch", imported["batch"], "--as-user", "alice")
    assert code == 2 and own["field"] == "approved_by"
    assert ledger(db, "approve-batch", imported["batch"], "--as-user", "bob") == \
        (0, {"batch": imported["batch"], "approved": 40})

    code, sealed = ledger(db, "seal", "--period", "2026-11-23")
    assert code == 0 and sealed["tx_count"] == 40
    code, report = ledger(db, "verify")
    assert code == 0 and report["ok"] and report["checkpoints"] == 1
    assert (report["transactions"], report["postings"]) == (40, 160)  # 4 postings per service record

    # behind the ledger's back: drop the guard and change one posting; verify names the row
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER postings_no_update")
        conn.execute("UPDATE postings SET amount = amount + 1 WHERE id = (SELECT min(id) FROM postings)")
    code, report = ledger(db, "verify")
    assert code == 1 and not report["ok"]
    assert {p["check"] for p in report["problems"]} >= {"transaction_hash", "balanced", "balance"}


def test_a_file_that_is_not_there_is_named_in_json_not_a_traceback(tmp_path):
    db = tmp_path / "cli.sqlite3"
    assert ledger(db, "upgrade")[0] == 0
    assert ledger(db, "create-admin", "alice")[0] == 0
    missing = str(tmp_path / "台账.csv")
    code, answer = ledger(db, "import", missing, "--as-user", "alice")
    assert code == 2 and answer == {"code": "not_found", "field": "file",
                                    "message": f"文件不存在 (no such file): {missing}"}
    code, answer = ledger(db, "policy", "what-if", str(tmp_path / "draft.toml"), "--unit-id", "1",
                          "--from", "2026-01-01", "--to", "2026-10-31")
    assert code == 2 and answer["code"] == "not_found" and answer["field"] == "file"


def test_a_refusal_reads_in_chinese_on_the_command_line(tmp_path):
    db = tmp_path / "cli.sqlite3"
    assert ledger(db, "upgrade")[0] == 0
    code, answer = ledger(db, "rankings", "publish", "99")  # the domain says "ranking run 99 not found"
    assert code == 2 and answer["code"] == "not_found" and answer["field"] == "run_id"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer["message"]) and "not found" not in answer["message"]


def test_a_malformed_policy_is_refused_in_chinese_with_its_path_and_reason(tmp_path):
    db = tmp_path / "cli.sqlite3"
    assert ledger(db, "upgrade")[0] == 0
    stations(db)  # unit 1 is the county
    draft = (ROOT / "ledger/incentives/default_policy.toml").read_text(encoding="utf-8")
    second = draft.index("hours", draft.index("# 二星"))
    bad = tmp_path / "bad.toml"
    bad.write_text(draft[:second] + "hours = 50" + draft[draft.index("\n", second):], encoding="utf-8")
    code, answer = ledger(db, "policy", "publish", str(bad), "--unit-id", "1", "--effective-from", "2026-01-01")
    assert code == 2 and answer["field"] == "stars.levels[1].hours"
    assert answer["message"] == "嘉许激励办法有误：stars.levels[1].hours：应大于 stars.levels[0].hours（100）"
