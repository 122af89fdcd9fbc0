"""The policy API: refusals that name the exact field, the what-if table and chart, and an
adjustment run that posts once.  Figures are computed by hand in the comments."""
from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import func, select

from ledger.book.accounts import balance
from ledger.book.tables import Transaction
from ledger.incentives.tables import PolicyVersion
from tests import factories as f
from tests.scenarios.test_policy_records_before_and_after_a_policy_change import simple_policy


def h(token: str, with_key: bool = True) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if with_key:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers


def publish(client, token, unit_id, effective_from, document):
    return client.post("/policies", headers=h(token), json={
        "unit_id": unit_id, "effective_from": effective_from, "document": document})


def versions_of(ctx, unit_id: int) -> int:
    with ctx.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(PolicyVersion)
                                   .where(PolicyVersion.unit_id == unit_id)).scalar_one()


GOOD = simple_policy("县办法", 10)
MALFORMED = [
    (GOOD.replace("per_hour = 10", "per_hour = -1"), "points.per_hour", "must not be negative"),
    (GOOD + "\n[[stars.levels]]\nhours = 50\n", "stars.levels[1].hours", "must be greater than"),
    (GOOD + '\n[multipliers.category]\n"舞龙舞狮" = 1.2\n', "multipliers.category.舞龙舞狮", "unknown service category"),
    (GOOD + '\n[[date_tags]]\nname = "春节"\nfrom = 2026-02-16\nto = 2026-02-22\n'
            '\n[[date_tags]]\nname = "庙会"\nfrom = 2026-02-20\nto = 2026-02-25\n',
     "date_tags[1].precedence", "overlaps date_tags[0]"),
    (GOOD.replace("[points]", "[points"), "document", "malformed TOML"),
    (GOOD.replace('rounding = "half_up"', "") + '\n[caps]\nper_day_minutes = 2000\n', "caps.per_day_minutes",
     "a day has only 1440 minutes"),
]


@pytest.mark.parametrize("document, path, reason", MALFORMED, ids=[m[1] for m in MALFORMED])
def test_a_malformed_policy_is_refused_with_the_exact_path_and_nothing_is_published(client, ctx, document,
                                                                                    path, reason):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    response = publish(client, admin, units["center"], "2026-01-01", document)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "policy_invalid" and body["field"] == path
    assert body["message"].startswith("嘉许激励办法有误") and "must" not in body["message"]  # people read Chinese
    english = client.post("/policies", headers={**h(admin), "Accept-Language": "en"}, json={
        "unit_id": units["center"], "effective_from": "2026-01-01", "document": document}).json()
    assert reason in english["message"]  # the exact reason, for a client that asks for English
    assert versions_of(ctx, units["center"]) == 0


def test_an_effective_date_before_a_published_version_is_refused(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    assert publish(client, admin, units["institute"], "2026-07-01", GOOD).status_code == 201
    earlier = publish(client, admin, units["institute"], "2026-06-30", simple_policy("县办法", 12))
    assert earlier.status_code == 422 and earlier.json()["field"] == "effective_from"
    assert versions_of(ctx, units["institute"]) == 1
    # another scope is not affected by the institute's dates
    assert publish(client, admin, units["station_a"], "2026-01-01", GOOD).status_code == 201


def test_only_admins_and_center_admins_publish(client, ctx):
    units = f.tree(ctx)
    _, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    _, auditor = f.user(ctx, "auditor")
    assert publish(client, station_admin, units["station_a"], "2026-01-01", GOOD).status_code == 403
    assert publish(client, auditor, units["center"], "2026-01-01", GOOD).status_code == 403
    assert versions_of(ctx, units["station_a"]) == 0


DRAFT = """
[policy]
name = "县办法（征求意见稿）"

[points]
per_hour = 20

[caps]
per_activity_minutes = 180

[stars]
[[stars.levels]]
hours = 4
"""


def test_what_if_prices_a_period_under_a_draft_per_unit(client, ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, admin = f.user(ctx, "admin")
    volunteer_a = f.volunteer(ctx, units["station_a"])
    volunteer_b = f.volunteer(ctx, units["station_b"])
    # default policy now (10 pts/h, 1 star at 100 h); March 10–12 carry no date tag
    for volunteer, unit, day, minutes in ((volunteer_a, "station_a", 10, 180), (volunteer_a, "station_a", 11, 120),
                                          (volunteer_b, "station_b", 12, 240)):
        activity = f.activity(ctx, units[unit], dt.date(2026, 3, day))
        f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(2026, 3, day, 9), minutes)
    body = {"unit_id": units["center"], "period_from": "2026-03-01", "period_to": "2026-03-31", "document": DRAFT}
    response = client.post("/policies/what-if", json=body, headers=h(admin, with_key=False))
    assert response.status_code == 200, response.text
    result = response.json()
    rows = {row["unit_id"]: row for row in result["units"]}
    assert set(rows) == {units["station_a"], units["station_b"]}
    a, b = rows[units["station_a"]], rows[units["station_b"]]
    # station a: now 3 h × 10 + 2 h × 10 = 50; draft 3 h × 20 + 2 h × 20 = 100.
    # volunteer a has 300 min: 0 stars now, ≥ 4 h so 1 star under the draft.
    assert (a["records"], a["points_current"], a["points_draft"], a["points_change"]) == (2, 50, 100, 50)
    assert (a["stars_current"], a["stars_draft"]) == ([1, 0], [0, 1])
    assert (a["liability_current"], a["liability_draft"]) == (50, 100)
    # station b: 4 h × 10 = 40 now; the draft caps the activity at 180 min: 3 h × 20 = 60,
    # and 180 min < 4 h keeps volunteer b at 0 stars.
    assert (b["records"], b["points_current"], b["points_draft"], b["points_change"]) == (1, 40, 60, 20)
    assert (b["stars_current"], b["stars_draft"]) == ([1, 0], [1, 0])
    totals = result["totals"]
    assert (totals["points_current"], totals["points_draft"], totals["points_change"]) == (90, 160, 70)
    assert (totals["stars_current"], totals["stars_draft"]) == ([2, 0], [1, 1])
    assert (totals["liability_current"], totals["liability_draft"]) == (90, 160)
    with ctx.uow() as uow:  # nothing was written
        assert balance(uow.session, "volunteer_points", volunteer_a) == 50

    png = client.post("/policies/what-if?format=png", json=body, headers=h(admin, with_key=False))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n" and len(png.content) > 10_000
    csv = client.post("/policies/what-if?format=csv", json=body, headers=h(admin, with_key=False))
    assert csv.status_code == 200 and "积分变化" in csv.text and "合计" in csv.text
    assert "points_change" not in csv.text  # headers are Chinese
    xlsx = client.post("/policies/what-if?format=xlsx", json=body, headers=h(admin, with_key=False))
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    sheet = book.active
    assert sheet.max_row == 4  # header, two stations, total
    assert [c.value for c in sheet[1]][:6] == ["单位编码", "单位", "服务记录(条)", "现行积分", "草案积分", "积分变化"]
    assert [c.value for c in sheet[4]][1:6] == ["合计", 3, 90, 160, 70] and sheet.freeze_panes == "A2"
    about = [row[0] for row in book["说明"].iter_rows(min_row=2, values_only=True)]
    assert "合计积分增加 70：现行 90 分，草案 160 分。" in about
    assert not any("{" in line for line in about)  # sentences, not dicts

    bad = client.post("/policies/what-if", json={**body, "document": DRAFT.replace("per_hour = 20", "per_hour = -2")},
                      headers=h(admin, with_key=False))
    assert bad.status_code == 422 and bad.json()["field"] == "points.per_hour"


def test_a_retroactive_change_is_posted_only_by_a_confirmed_adjustment_run_once(client, ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, admin = f.user(ctx, "admin")
    assert publish(client, admin, units["center"], "2026-01-01", simple_policy("县办法", 10)).status_code == 201
    volunteer_a = f.volunteer(ctx, units["station_a"])
    volunteer_b = f.volunteer(ctx, units["station_b"])
    day_a = f.activity(ctx, units["station_a"], dt.date(2026, 8, 10))
    day_b = f.activity(ctx, units["station_b"], dt.date(2026, 8, 11))
    record_a = f.served(ctx, recorder, approver, volunteer_a, day_a, dt.datetime(2026, 8, 10, 9), 120)  # 20 pts
    record_b = f.served(ctx, recorder, approver, volunteer_b, day_b, dt.datetime(2026, 8, 11, 9), 60)  # 10 pts
    v2 = publish(client, admin, units["center"], "2026-08-01", simple_policy("县办法（修订）", 15))
    assert v2.status_code == 201
    with ctx.uow() as uow:  # publishing changed nothing posted
        assert balance(uow.session, "volunteer_points", volunteer_a) == 20

    period = {"unit_id": units["center"], "period_from": "2026-08-01", "period_to": "2026-08-31"}
    run = client.post("/policies/adjustment-runs", json=period, headers=h(admin))
    assert run.status_code == 201, run.text
    shown = run.json()
    # under v2 (15 pts/h): a 2 h → 30 (+10), b 1 h → 15 (+5)
    assert shown["status"] == "computed" and shown["points_difference"] == 15
    assert [(v["volunteer_id"], v["points_before"], v["points_after"], v["difference"])
            for v in shown["by_volunteer"]] == [(volunteer_a, 20, 30, 10), (volunteer_b, 10, 15, 5)]
    with ctx.uow() as uow:  # computing posts nothing
        assert balance(uow.session, "volunteer_points", volunteer_a) == 20

    confirmed = client.post(f"/policies/adjustment-runs/{shown['id']}/confirm", headers=h(admin))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    again = client.post(f"/policies/adjustment-runs/{shown['id']}/confirm", headers=h(admin))
    assert again.status_code == 200 and again.json()["lines"] == confirmed.json()["lines"]
    with ctx.uow() as uow:
        s = uow.session
        assert balance(s, "volunteer_points", volunteer_a) == 30
        assert balance(s, "volunteer_points", volunteer_b) == 15
        adjustments = s.execute(select(Transaction).where(
            Transaction.kind == "adjustment", Transaction.service_record_id.in_((record_a, record_b)))).scalars().all()
        assert sorted(tx.idempotency_key for tx in adjustments) == sorted([
            f"adjustment:{shown['id']}:{record_a}", f"adjustment:{shown['id']}:{record_b}"])
        assert {tx.policy_version_id for tx in adjustments} == {v2.json()["id"]}
    rerun = client.post("/policies/adjustment-runs", json=period, headers=h(admin)).json()
    assert rerun["records"] == 0 and rerun["lines"] == []  # nothing left to adjust

    # a run the ledger moved past is refused: v3 (20 pts/h), then record b is reversed before confirming
    assert publish(client, admin, units["center"], "2026-08-01", simple_policy("县办法（三）", 20)).status_code == 201
    stale = client.post("/policies/adjustment-runs", json=period, headers=h(admin)).json()
    assert stale["points_difference"] == 10 + 5  # a 30 → 40, b 15 → 20
    reversed_ = client.post(f"/service-records/{record_b}/reverse", json={"reason": "录入错误"}, headers=h(admin))
    assert reversed_.status_code == 200
    refused = client.post(f"/policies/adjustment-runs/{stale['id']}/confirm", headers=h(admin))
    assert refused.status_code == 409 and refused.json()["field"] == "run_id"
    with ctx.uow() as uow:  # the reversal took the adjustment back with the record
        assert balance(uow.session, "volunteer_points", volunteer_b) == 0
        assert balance(uow.session, "volunteer_points", volunteer_a) == 30
