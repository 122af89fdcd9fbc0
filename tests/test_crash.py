"""A crash in the middle of posting leaves no half-posted transaction.

A real `ledger approve-batch` process posts a 150-record import batch; it is stopped dead
(SIGKILL) while its database transaction is open, right after the postings of the 40th
service transaction were inserted and before their balances were updated.  Afterwards:
nothing of the batch is posted, every transaction has all its postings, `verify` is clean;
running the same approval again posts the batch exactly once, and a third run finds nothing
left to approve.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from ledger.book.integrity import verify
from ledger.book.tables import Posting, Transaction
from ledger.service import imports
from ledger.service.tables import ServiceRecord
from ledger.store.usecase import read, write_once
from tests import factories as f
from tests.conftest import SECRET

ROOT = Path(__file__).resolve().parents[1]
RECORDS = 150
STOP_AFTER = 40

# Runs the real command line, but pauses (transaction open) once the 40th INSERT INTO
# postings has run, until the test kills it.
CHILD = """
import sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

seen = 0

@event.listens_for(Engine, "after_cursor_execute")
def pause_mid_transaction(conn, cursor, statement, parameters, context, executemany):
    global seen
    if statement.lstrip().upper().startswith("INSERT INTO POSTINGS"):
        seen += 1
        if seen == %d:
            print("paused after", seen, "postings inserts", flush=True)
            sys.stdin.readline()

from api.cli import main
sys.exit(main(sys.argv[1:]))
""" % STOP_AFTER


def big_ledger(names: tuple[str, str]) -> bytes:
    """150 rows: 10 people × 15 days, one hour each, alternating between two stations."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["序号", "姓名", "身份证号", "所属站点", "活动名称", "服务类别", "服务日期", "开始时间", "结束时间"])
    people = [(f"志愿者{i}", f.random_id_number()) for i in range(10)]
    for n in range(RECORDS):
        name, id_number = people[n % 10]
        day = dt.date(2026, 3, 9) + dt.timedelta(days=n // 10)
        writer.writerow([n + 1, name, id_number, names[n % 2], "读书会", "文化文艺", day.isoformat(), "09:00", "10:00"])
    return out.getvalue().encode("utf-8")


def cli(url: str, *args: str, script: str | None = None, **popen) -> subprocess.Popen:
    command = [sys.executable, "-c", script] if script else [sys.executable, "-m", "api.cli"]
    # the deployment's settings: the test context's secret, so both key the ledger's hashes alike
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_SCHEDULER_ENABLED": "false",
           "LEDGER_SECRET_KEY": SECRET.decode()}
    return subprocess.Popen([*command, *args], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)


def test_a_killed_approval_posts_nothing_and_a_rerun_posts_exactly_once(fresh_ctx):
    ctx = fresh_ctx
    url = ctx.engine.url.render_as_string(hide_password=False)
    units = f.tree(ctx)
    importer, _ = f.user(ctx, "unit_admin", units["center"])
    approver, _ = f.user(ctx, "unit_admin", units["center"])
    names = ("东风村新时代文明实践站", "南岭村新时代文明实践站")
    batch = write_once(ctx, lambda s: imports.import_taizhang(
        s, importer, ctx.secret_key, big_ledger(names), "big.csv", ctx.local_now())).batch

    child = cli(url, "approve-batch", batch, "--as-user", approver.username, script=CHILD, stdin=subprocess.PIPE)
    line = child.stdout.readline()
    assert line.startswith("paused after 40"), child.stderr.read()
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    def state(s):
        statuses = dict(s.execute(select(ServiceRecord.status, func.count()).where(ServiceRecord.source == batch)
                                  .group_by(ServiceRecord.status)).all())
        legs = dict(s.execute(select(Transaction.id, func.count(Posting.id)).outerjoin(
            Posting, Posting.transaction_id == Transaction.id).where(Transaction.kind == "service")
            .group_by(Transaction.id)).all())
        return statuses, legs, verify(s)

    statuses, legs, report = read(ctx, state)
    assert statuses == {"pending": RECORDS} and legs == {}
    assert report.ok, report.problems

    rerun = cli(url, "approve-batch", batch, "--as-user", approver.username)
    out, err = rerun.communicate()
    assert rerun.returncode == 0, err
    assert json.loads(out) == {"batch": batch, "approved": RECORDS}
    third = cli(url, "approve-batch", batch, "--as-user", approver.username)
    out, _ = third.communicate()
    assert third.returncode == 2 and json.loads(out)["field"] == "batch"

    statuses, legs, report = read(ctx, state)
    assert statuses == {"posted": RECORDS}
    # one service transaction per record, each with all four postings (minutes and points, both sides)
    assert len(legs) == RECORDS and set(legs.values()) == {4}
    assert report.ok, report.problems
