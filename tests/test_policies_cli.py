"""The `ledger policy ...` command line: publish from a file, list, in force, what-if with a
chart, adjust and confirm; and the expiry job's periods."""
from __future__ import annotations

import datetime as dt
import json

from api.cli import main
from jobs.expiry import months_due, period_start
from tests import factories as f
from tests.scenarios.test_policy_records_before_and_after_a_policy_change import simple_policy


def run(capsys, db_url, *argv) -> tuple[int, object]:
    code = main(["--database-url", db_url, *argv])
    return code, json.loads(capsys.readouterr().out)


def test_publish_list_in_force_what_if_adjust_and_confirm_from_the_command_line(ctx, db_url, tmp_path, capsys):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 9, 14))
    f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime(2026, 9, 14, 9), 120)  # 20 pts
    v1 = tmp_path / "county.toml"
    v1.write_text(simple_policy("县办法", 15), encoding="utf-8")
    code, published = run(capsys, db_url, "policy", "publish", str(v1), "--unit-id", str(units["center"]),
                          "--effective-from", "2026-09-01", "--as-user", approver.username)
    assert code == 0 and published["version"] == 1
    code, listed = run(capsys, db_url, "policy", "list", "--unit-id", str(units["station_a"]))
    assert [v["id"] for v in listed] == [published["id"]]
    code, in_force = run(capsys, db_url, "policy", "in-force", "--unit-id", str(units["station_a"]), "--on", "2026-09-14")
    assert in_force["version"]["id"] == published["id"]

    png = tmp_path / "what-if.png"
    code, result = run(capsys, db_url, "policy", "what-if", str(v1), "--unit-id", str(units["center"]),
                       "--from", "2026-09-01", "--to", "2026-09-30", "--png", str(png))
    assert code == 0 and result["totals"]["points_change"] == 10  # 2 h × (15 − 10)
    assert png.read_bytes()[:4] == b"\x89PNG"

    code, computed = run(capsys, db_url, "policy", "adjust", "--unit-id", str(units["center"]), "--from", "2026-09-01",
                         "--to", "2026-09-30", "--as-user", approver.username)
    assert code == 0 and computed["points_difference"] == 10
    code, confirmed = run(capsys, db_url, "policy", "confirm", str(computed["id"]), "--as-user", approver.username)
    assert code == 0 and confirmed["status"] == "confirmed"

    bad = tmp_path / "bad.toml"
    bad.write_text(simple_policy("县办法", 15).replace("hours = 100", "hours = 0"), encoding="utf-8")
    code, refused = run(capsys, db_url, "policy", "publish", str(bad), "--unit-id", str(units["center"]),
                        "--effective-from", "2026-10-01")
    assert code == 2 and refused["field"] == "stars.levels[0].hours"


def test_the_expiry_job_covers_this_month_and_the_two_before():
    assert months_due(dt.datetime(2027, 1, 1, 0, 30)) == ["2026-11", "2026-12", "2027-01"]
    assert period_start("2027-01") == dt.date(2027, 1, 1)


def test_expire_points_refuses_a_malformed_or_future_period_with_the_field(ctx, db_url, capsys):
    # A future period would be marked as run and skipped by the scheduler on its day: refused.
    code, answer = run(capsys, db_url, "expire-points", "--period", "2099-01")
    assert code == 2 and (answer["code"], answer["field"]) == ("invalid", "period")
    for bad in ("2026-13", "2026/11", "abc"):
        code, answer = run(capsys, db_url, "expire-points", "--period", bad)
        assert code == 2 and (answer["code"], answer["field"]) == ("invalid", "period"), bad
