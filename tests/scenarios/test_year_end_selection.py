"""Worked story: the county's 2025 year-end selection (年度优秀志愿者) is configured, run,
published and exported over HTTP and the command line, and every figure is traced back to
the ledger's postings.

Data (2025, default policy: 10 points an hour, no date tags — never on the 5th):
  S (station A): 13 services of 480 min = 6240 min = 104 h → one star (100 h)
  P (station A): 5 services of 300 min = 1500 min = 25 h
  Q (station B): 480 + 480 + 340 = 1300 min ≈ 21.67 h
  R (station B): serves 600 min, but the policy credits at most 480 min (8 h) per activity:
     8 h, below the 20-hour minimum (rankings read credited minutes from the ledger)
Definition: hours first, at least 20 hours in the year, top 2 overall, ties by activities.
Expected: S rank 1 (6240), P rank 2 (1500), Q rank 3 (1300); R not eligible (时长不足).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pandas as pd
from sqlalchemy import func, select

from api.cli import main as cli
from ledger.book.tables import Account, Posting, Transaction
from ledger.service.tables import ServiceRecord
from tests import factories as f
from tests.console_support import client_sign_in, give_password
from tests.test_rankings import person


def h(token: str, write: bool = False) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if write:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers


def _serve(ctx, recorder, approver, volunteer_id, unit_id, plan):
    records = []
    for day, minutes in plan:
        activity_id = f.activity(ctx, unit_id, day)
        records.append(f.served(ctx, recorder, approver, volunteer_id, activity_id,
                                dt.datetime.combine(day, dt.time(8)), minutes))
    return records


def _minutes_from_postings(ctx, volunteer_id: int, position: int) -> tuple[int, int]:
    """Re-derive (minutes, transactions) from postings, independently of the ranking SQL."""
    with ctx.uow() as uow:
        row = uow.session.execute(
            select(func.coalesce(func.sum(Posting.amount), 0), func.count(func.distinct(Transaction.id)))
            .join(Account, Account.id == Posting.account_id)
            .join(Transaction, Transaction.id == Posting.transaction_id)
            .join(ServiceRecord, ServiceRecord.id == Transaction.service_record_id)
            .where(Account.kind == "volunteer_minutes", Account.owner_id == volunteer_id,
                   Transaction.id <= position, ServiceRecord.started_at >= dt.datetime(2025, 1, 1),
                   ServiceRecord.started_at < dt.datetime(2026, 1, 1))).one()
    return int(row[0]), int(row[1])


def test_county_year_end_selection_is_configured_run_published_exported_and_traced(client, ctx, tmp_path):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    county, county_admin = f.user(ctx, "unit_admin", units["center"])
    _, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    a, b = units["station_a"], units["station_b"]
    people = {"S": person(ctx, a, name="孙"), "P": person(ctx, a, name="潘"),
              "Q": person(ctx, b, name="秦"), "R": person(ctx, b, name="任")}
    days = [dt.date(2025, month, 10) for month in range(1, 13)] + [dt.date(2025, 12, 20)]
    s_records = _serve(ctx, recorder, approver, people["S"], a, [(d, 480) for d in days])
    _serve(ctx, recorder, approver, people["P"], a, [(dt.date(2025, m, 12), 300) for m in (2, 4, 6, 8, 10)])
    _serve(ctx, recorder, approver, people["Q"], b, [(dt.date(2025, 3, 13), 480), (dt.date(2025, 7, 14), 480),
                                                     (dt.date(2025, 9, 16), 340)])
    _serve(ctx, recorder, approver, people["R"], b, [(dt.date(2025, 11, 11), 600)])

    # 1. configure (a county admin; a bad metric is refused with its field)
    definition = {"code": f.ref("county-2025"), "name": "2025年度优秀志愿者", "unit_id": units["center"],
                  "period_kind": "year", "metrics": ["hours", "points"], "eligibility": {"min_hours": 20},
                  "quota": {"top_n": 2}, "tie_break": ["activities", "earlier_registration"]}
    bad = client.post("/rankings/definitions", json={**definition, "metrics": ["hours", "likes"]},
                      headers=h(county_admin, True))
    assert bad.status_code == 422 and bad.json()["field"] == "metrics[1]"
    created = client.post("/rankings/definitions", json=definition, headers=h(county_admin, True))
    assert created.status_code == 201, created.text
    definition_id = created.json()["id"]
    hidden = client.get(f"/rankings/definitions/{definition_id}", headers=h(station_admin))
    assert hidden.status_code == 404  # a station admin does not see the county's selection

    # 2. run the finished year (the running one is refused)
    early = client.post("/rankings/runs", json={"definition_id": definition_id, "period": "2026"},
                        headers=h(county_admin, True))
    assert early.status_code == 422 and early.json()["field"] == "period"
    run = client.post("/rankings/runs", json={"definition_id": definition_id, "period": "2025"},
                      headers=h(county_admin, True))
    assert run.status_code == 201, run.text
    run = run.json()
    assert (run["candidates"], run["eligible"], run["shortlisted"]) == (4, 3, 2)
    body = client.get(f"/rankings/runs/{run['id']}", headers=h(county_admin)).json()
    entries = {e["subject_id"]: e for e in body["entries"]}
    s, p, q, r = (entries[people[k]] for k in "SPQR")
    assert (s["rank"], s["minutes"], s["hours"], s["points"], s["star_level"], s["tx_count"]) == \
        (1, 6240, "104", 1040, 1, 13)
    assert (p["rank"], p["minutes"], q["rank"], q["minutes"], q["hours"]) == (2, 1500, 3, 1300, "21.67")
    assert r["rank"] is None and r["reasons"] == ["时长不足"] and r["hours"] == "8"
    assert [e["subject_name"] for e in body["entries"] if e["is_shortlisted"]] == ["孙", "潘"]

    # 3. later corrections do not change the snapshot: S loses a record (and the star), R serves more
    reversed_ = client.post(f"/service-records/{s_records[0]}/reverse", json={"reason": "重复录入"},
                            headers=h(county_admin, True))
    assert reversed_.status_code == 200, reversed_.text
    _serve(ctx, recorder, approver, people["R"], b, [(dt.date(2025, 12, 22), 480)])
    check = client.get(f"/rankings/runs/{run['id']}/reproduce", headers=h(county_admin)).json()
    assert check["matches"] and check["stored_hash"] == run["entries_hash"]

    # the star rule reads the star level held at the period end, as the ledger recorded it up to
    # the run's position: S reached one star in 2025; the reversal's downgrade is dated today
    # (2026-11-23), so it does not reach back into 2025, at either position
    starred = {**definition, "code": f.ref("county-2025-star"), "eligibility": {"min_star_level": 1}}
    star_id = client.post("/rankings/definitions", json=starred, headers=h(county_admin, True)).json()["id"]
    for position in (run["ledger_position"], None):
        starred_run = client.post("/rankings/runs", json={"definition_id": star_id, "period": "2025",
                                                          "position": position}, headers=h(county_admin, True)).json()
        assert (starred_run["candidates"], starred_run["eligible"]) == (4, 1)

    # 4. every figure traces back to postings at the run's position
    for key, volunteer_id in people.items():
        entry = entries[volunteer_id]
        trail = client.get(f"/rankings/runs/{run['id']}/entries/{volunteer_id}/transactions",
                           headers=h(county_admin)).json()
        assert sum(t["minutes"] for t in trail) == entry["minutes"], key
        assert sum(t["points"] for t in trail) == entry["points"], key
        assert len(trail) == entry["tx_count"] and all(t["transaction_id"] <= run["ledger_position"] for t in trail)
        assert _minutes_from_postings(ctx, volunteer_id, run["ledger_position"]) == (entry["minutes"], entry["tx_count"])
    # today, with the reversal, the ledger says 5760 min for S: only a new run would show it
    assert _minutes_from_postings(ctx, people["S"], 10**12) == (5760, 14)

    # 5. publish: the official list; a newer run must supersede it before it can be published
    published = client.post(f"/rankings/runs/{run['id']}/publish", headers=h(county_admin, True))
    assert published.status_code == 200 and published.json()["is_published"]
    official = client.get("/rankings/official", params={"definition_code": definition["code"], "period": "2025"},
                          headers=h(county_admin)).json()
    assert official["id"] == run["id"]

    # 6. exports for the selection committee
    xlsx = client.get(f"/rankings/runs/{run['id']}/export.xlsx", headers=h(county_admin))
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxml")
    sheets = pd.read_excel(io.BytesIO(xlsx.content), sheet_name=None)
    assert list(sheets) == ["说明", "城关镇新时代文明实践所"]
    sheet = sheets["城关镇新时代文明实践所"]
    assert list(sheet["名称"][:3]) == ["孙", "潘", "秦"] and list(sheet["时长(分钟)"][:3]) == [6240, 1500, 1300]
    assert list(sheet["交易笔数"][:3]) == [13, 5, 3]
    csv = client.get(f"/rankings/runs/{run['id']}/export.csv", headers=h(county_admin))
    assert csv.status_code == 200 and "孙" in csv.content.decode("utf-8-sig")
    chart = client.get(f"/rankings/runs/{run['id']}/chart.png", headers=h(county_admin))
    assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"
    give_password(ctx, county.username)  # the page is the console's: a signed-in session
    assert client_sign_in(client, county.username).status_code == 303
    page = client.get("/rankings/page")
    assert page.status_code == 200 and "评先评优" in page.text

    # 7. the same from the command line, against the same database
    url = ctx.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "selection.xlsx"
    assert cli(["--database-url", url, "rankings", "export", str(run["id"]), "--xlsx", str(out),
                "--png", str(tmp_path / "selection.png")]) == 0
    assert out.stat().st_size > 0 and (tmp_path / "selection.png").read_bytes()[:4] == b"\x89PNG"
    assert cli(["--database-url", url, "rankings", "reproduce", str(run["id"])]) == 0
    spec = tmp_path / "definition.json"
    spec.write_text(json.dumps({**definition, "quota": {"top_n": 3}}), encoding="utf-8")
    assert cli(["--database-url", url, "rankings", "define", str(spec)]) == 0
