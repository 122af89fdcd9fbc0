"""The selection commands as an operator runs them (a real process, a fresh SQLite file): a run of
the running year as of a cut-off, published, put on public notice and shown as the public sees it."""
from __future__ import annotations

import datetime as dt
import json

from ledger.store.db import make_engine
from ledger.store.uow import Context
from tests import factories as f
from tests.test_cli import ledger


def test_a_cut_off_run_put_on_notice_from_the_command_line(tmp_path):
    """One volunteer serves 120 min on 2026-03-10 and 240 min on 2026-09-10; as of 2026-06-30
    the run counts 120 min (2 hours, 20 points at 10 an hour)."""
    db = tmp_path / "cli.sqlite3"
    assert ledger(db, "upgrade")[0] == 0
    engine = make_engine(f"sqlite:///{db}")
    ctx = Context(engine=engine, secret_key=b"unused")
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    volunteer = f.volunteer(ctx, units["station_a"], name="王五")
    for day, minutes in ((dt.date(2026, 3, 10), 120), (dt.date(2026, 9, 10), 240)):
        f.served(ctx, recorder, approver, volunteer, f.activity(ctx, units["station_a"], day),
                 dt.datetime.combine(day, dt.time(8)), minutes)
    engine.dispose()
    definition = tmp_path / "year.json"
    definition.write_text(json.dumps({
        "code": "year-preview", "name": "年度优秀志愿者（预评）", "unit_id": units["center"], "period_kind": "year",
        "metrics": ["hours", "points"], "eligibility": {"min_hours": 1, "min_registration_months": 3},
        "quota": {"top_n": 3}, "tie_break": ["threshold_reached", {"by": "last_service", "order": "asc"}],
        "notice_days": 5}, ensure_ascii=False), encoding="utf-8")
    assert ledger(db, "rankings", "define", str(definition))[0] == 0
    code, refused = ledger(db, "rankings", "run", "year-preview", "2026", "--as-of", "2027-03-01")
    assert code != 0 and "截至日期" in str(refused)
    code, run = ledger(db, "rankings", "run", "year-preview", "2026", "--as-of", "2026-06-30")
    assert code == 0 and (run["as_of"], run["is_provisional"], run["shortlisted"]) == ("2026-06-30", True, 1)
    assert ledger(db, "rankings", "publish", str(run["id"]))[0] == 0
    code, notice = ledger(db, "notices", "put", str(run["id"]))
    assert code == 0 and notice["days"] == 5 and notice["status"] == "open"
    code, shown = ledger(db, "notices", "show", str(notice["id"]))
    assert code == 0 and shown["basis_label"] == "截至 2026-06-30（非全期统计，非最终结果）"
    assert [(line["name"], line["figures"]) for line in shown["lines"]] == [("王五", ["2 小时", "20 分"])]
