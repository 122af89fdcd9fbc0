"""Public notice (公示) over HTTP: a published selection put on notice for the definition's days,
a public page with names, units and figures only (escaped, no script allowed), objections from
anyone (the phone kept hashed and masked), resolved by the county, then confirmed final — or
superseded with the reason."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ledger.rankings.tables import RankingObjection
from tests import factories as f
from tests.test_selection_rules import CJK, THRESHOLD_PLAN, serve_plan

PHONE = "15110655224"


def _headers(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def _published_on_notice(ctx, client, token: str, units: dict) -> tuple[dict, dict]:
    """Define (notice 5 days, top 2 by hours then the threshold day), run 2025, publish, put on notice."""
    body = {"code": f.ref("notice"), "name": "2025年度优秀志愿者", "unit_id": units["center"], "period_kind": "year",
            "metrics": ["hours", "points"], "eligibility": {"min_hours": 4}, "quota": {"top_n": 2},
            "tie_break": ["threshold_reached"], "notice_days": 5}
    definition = client.post("/rankings/definitions", json=body, headers=_headers(token, f.ref("k"))).json()
    run = client.post("/rankings/runs", json={"definition_id": definition["id"], "period": "2025"},
                      headers=_headers(token, f.ref("k"))).json()
    assert client.post(f"/rankings/runs/{run['id']}/publish", headers=_headers(token, f.ref("k"))).status_code == 200
    notice = client.post(f"/rankings/runs/{run['id']}/notice", headers=_headers(token, f.ref("k")))
    assert notice.status_code == 201, notice.text
    return run, notice.json()


def test_a_selection_on_public_notice_then_confirmed_final(ctx, client):
    """p1, p2, p3 each served 300 min (50 points) in 2025; p2 met 4 hours first (02-10), then p3
    (04-14), then p1 (05-12): the top 2 are p2 and p3, on notice for 5 days from today."""
    units, ids, _ = serve_plan(ctx, THRESHOLD_PLAN, p2={"name": "<b>乙</b>"})
    _, token = f.user(ctx, "admin")
    run, notice = _published_on_notice(ctx, client, token, units)
    today = ctx.today()
    assert (notice["starts_on"], notice["ends_on"], notice["status"]) == (
        today.isoformat(), (today + dt.timedelta(days=4)).isoformat(), "open")
    page = client.get(f"/public/notices/{notice['id']}")
    assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"] and "<script" not in page.text
    assert "&lt;b&gt;乙&lt;/b&gt;" in page.text and "<b>乙</b>" not in page.text
    data = client.get(f"/public/notices/{notice['id']}/data").json()
    assert [(line["line"], line["rank"], line["name"], line["figures"]) for line in data["lines"]] == [
        (1, 1, "<b>乙</b>", ["5 小时", "50 分"]), (2, 2, "p3", ["5 小时", "50 分"])]
    assert set(data["lines"][0]) == {"line", "rank", "name", "unit", "figures"}  # nothing personal beyond
    # an objection from anyone, about line 2; the phone comes back masked only
    objection = client.post(f"/public/notices/{notice['id']}/objections", headers={"Idempotency-Key": f.ref("o")},
                            json={"contact": PHONE, "reason": "该同志4月14日并未到场服务", "line": 2})
    assert objection.status_code == 201 and objection.json()["contact_masked"] == "151****5224"
    assert PHONE not in objection.text
    with ctx.uow() as uow:
        stored = uow.session.execute(select(RankingObjection).where(RankingObjection.notice_id == notice["id"])).scalar_one()
        assert (stored.subject_id, stored.contact_masked) == (ids["p3"], "151****5224")
        assert PHONE not in stored.contact_hash and len(stored.contact_hash) == 64
    bad = client.post(f"/public/notices/{notice['id']}/objections", headers={"Idempotency-Key": f.ref("o")},
                      json={"contact": "12345", "reason": "名单有误，请核实", "line": 9})
    assert bad.status_code == 422 and bad.json()["field"] == "contact" and CJK.search(bad.json()["message"])
    hidden = client.post(f"/public/notices/{notice['id']}/objections", headers={"Idempotency-Key": f.ref("o")},
                         json={"contact": PHONE, "reason": "名单有误，请核实", "name": "张\u200b三"})
    assert hidden.status_code == 422 and hidden.json()["field"] == "name"
    short = client.post(f"/public/notices/{notice['id']}/objections", headers={"Idempotency-Key": f.ref("o")},
                        json={"contact": PHONE, "reason": "有误"})
    assert short.status_code == 422 and short.json()["field"] == "reason"
    # not final while the notice is open, nor with an objection unresolved
    confirm = client.post(f"/rankings/notices/{notice['id']}/confirm", headers=_headers(token, f.ref("k")))
    assert confirm.status_code == 409 and confirm.json()["field"] == "notice_id"
    assert confirm.json()["message"].startswith("当前状态：公示中；公示期至 ")  # not "公示公示中"
    listed = client.get(f"/rankings/notices/{notice['id']}/objections", headers=_headers(token)).json()
    assert [(o["line"], o["contact_masked"], o["outcome"]) for o in listed] == [(2, "151****5224", None)]
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + dt.timedelta(days=5)  # the notice has ended
    closed = client.post(f"/public/notices/{notice['id']}/objections", headers={"Idempotency-Key": f.ref("o")},
                         json={"contact": PHONE, "reason": "再次提出异议，请核实"})
    assert closed.status_code == 409 and closed.json()["field"] == "notice_id"
    assert client.post(f"/rankings/notices/{notice['id']}/confirm",
                       headers=_headers(token, f.ref("k"))).json()["message"] == "还有 1 条异议未处理"
    resolved = client.post(f"/rankings/objections/{listed[0]['id']}/resolve", headers=_headers(token, f.ref("k")),
                           json={"outcome": "dismissed", "reply": "经核实签到表，该同志当日在岗"})
    assert resolved.json()["outcome_text"] == "不成立"
    final = client.post(f"/rankings/notices/{notice['id']}/confirm", headers=_headers(token, f.ref("k")))
    assert final.status_code == 200 and final.json()["status"] == "confirmed"
    assert client.get(f"/rankings/runs/{run['id']}", headers=_headers(token)).json()["is_final"] is True
    assert "已确认为最终结果" in client.get(f"/public/notices/{notice['id']}").text


def test_an_upheld_objection_leaves_only_superseding_with_the_reason(ctx, client):
    units, ids, world = serve_plan(ctx, THRESHOLD_PLAN)
    _, token = f.user(ctx, "admin")
    run, notice = _published_on_notice(ctx, client, token, units)
    objection = client.post(f"/public/notices/{notice['id']}/objection-form",
                            data={"token": f.ref("form"), "contact": PHONE, "reason": "时长有重复录入", "line": "1"})
    assert objection.status_code == 200 and "151****5224" in objection.text and PHONE not in objection.text
    assert "default-src 'none'" in objection.headers["content-security-policy"]
    listed = client.get(f"/rankings/notices/{notice['id']}/objections", headers=_headers(token)).json()
    client.post(f"/rankings/objections/{listed[0]['id']}/resolve", headers=_headers(token, f.ref("k")),
                json={"outcome": "upheld", "reply": "重复录入属实，已冲正"})
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + dt.timedelta(days=5)
    refused = client.post(f"/rankings/notices/{notice['id']}/confirm", headers=_headers(token, f.ref("k"))).json()
    assert refused["code"] == "conflict" and "替代" in refused["message"]
    later = client.post("/rankings/runs", json={"definition_id": run["definition_id"], "period": "2025",
                                                "position": run["ledger_position"] - 1},
                        headers=_headers(token, f.ref("k"))).json()
    superseded = client.post(f"/rankings/notices/{notice['id']}/supersede", headers=_headers(token, f.ref("k")),
                            json={"by_run_id": later["id"], "reason": "异议成立，重新评选"})
    assert superseded.status_code == 200, superseded.text  # a later run (by id) of the same selection
    page = client.get(f"/public/notices/{notice['id']}").text
    assert "已被替代" in page and "异议成立，重新评选" in page
    assert client.get(f"/rankings/runs/{run['id']}", headers=_headers(token)).json()["superseded_by"] == later["id"]


def test_a_provisional_run_is_marked_on_its_public_page(ctx, client):
    units, _, _ = serve_plan(ctx, {"r1": [(dt.date(2026, 3, 10), 120)]})
    _, token = f.user(ctx, "admin")
    body = {"code": f.ref("notice"), "name": "2026年度优秀志愿者（预评）", "unit_id": units["center"],
            "period_kind": "year", "eligibility": {}, "quota": {"top_n": 1}}
    definition = client.post("/rankings/definitions", json=body, headers=_headers(token, f.ref("k"))).json()
    outside = client.post("/rankings/runs", json={"definition_id": definition["id"], "period": "2026",
                                                  "as_of": "2027-01-31"}, headers=_headers(token, f.ref("k")))
    assert outside.status_code == 422 and outside.json()["field"] == "as_of" and CJK.search(outside.json()["message"])
    run = client.post("/rankings/runs", json={"definition_id": definition["id"], "period": "2026",
                                              "as_of": "2026-06-30"}, headers=_headers(token, f.ref("k"))).json()
    assert run["is_provisional"] and run["as_of"] == "2026-06-30"
    client.post(f"/rankings/runs/{run['id']}/publish", headers=_headers(token, f.ref("k")))
    notice = client.post(f"/rankings/runs/{run['id']}/notice", headers=_headers(token, f.ref("k"))).json()
    page = client.get(f"/public/notices/{notice['id']}").text
    assert "截至 2026-06-30（非全期统计，非最终结果）" in page and "2 小时" in page
