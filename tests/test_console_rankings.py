"""评先评优 in the console: a definition from the form (unit from the tree), its sentences, a run,
its list and exports, publication; a bad field shown next to it."""
from __future__ import annotations

import re

from tests import test_rankings as tr
from tests.console_support import client_sign_in, console_client, form_csrf, staff  # noqa: F401


def _define_form(units, **changes):
    form = {"name": "2025年度优秀志愿者", "unit_id": str(units["institute"]), "period_kind": "year",
            "subject": "volunteer", "metric_1": "hours", "metric_2": "", "tie_1": "activities",
            "tie_2": "earlier_registration", "min_hours": "2", "min_hours_basis": "period", "min_star_level": "0",
            "min_points": "", "min_activities": "", "quota_kind": "top_n", "quota_value": "2",
            "quota_per_unit": "on", "notice_days": "7", "key": "k-" + units["institute"].__str__()}
    return form | changes


def test_an_admin_defines_runs_and_publishes_a_ranking(console_client, ctx):
    units, _, _, _ = tr.build(ctx)
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    form_page = console_client.get(f"/console/rankings/define?unit_id={units['institute']}")
    assert 'type="radio" name="unit_id"' in form_page.text
    saved = console_client.post("/console/rankings/define", data={**_define_form(units),
                                                                  "csrf_token": form_csrf(form_page.text)},
                                follow_redirects=False)
    assert saved.status_code == 303
    listing = console_client.get(saved.headers["location"])
    assert "评选办法已保存" in listing.text
    assert "前 2 名入围，每个下级单位分别计算名额。" in listing.text
    assert "评选期间服务时长不少于 2 小时。" in listing.text
    definition_id = re.search(r'name="definition_id" value="(\d+)"', listing.text)[1]
    key = re.search(r'name="key" value="([^"]+)"', listing.text)[1]
    ran = console_client.post("/console/rankings/run", data={"csrf_token": form_csrf(listing.text), "key": key,
                                                             "definition_id": definition_id, "period": "2025"},
                              follow_redirects=False)
    assert ran.status_code == 303
    shown = console_client.get(ran.headers["location"])
    assert "候选 5 人，符合条件 4 人，入围 3 人" in shown.text and "甲" in shown.text
    assert "/export.xlsx" in shown.text and "发布为正式名单" in shown.text
    run_id = re.search(r"/rankings/runs/(\d+)/publish", shown.text)[1]
    assert console_client.get(f"/rankings/runs/{run_id}/export.xlsx").status_code == 200  # the cookie serves exports
    published = console_client.post(f"/console/rankings/runs/{run_id}/publish", follow_redirects=False, data={
        "csrf_token": form_csrf(shown.text), "key": re.search(r'name="key" value="([^"]+)"', shown.text)[1]})
    assert published.status_code == 303
    after = console_client.get(published.headers["location"])
    assert "已发布为正式名单" in after.text and 'id="publish"' not in after.text
    noticed = console_client.post(f"/console/rankings/runs/{run_id}/notice", follow_redirects=False, data={
        "csrf_token": form_csrf(after.text), "key": "notice-" + run_id})
    assert noticed.status_code == 303
    assert "公示：公示中" in console_client.get(noticed.headers["location"]).text


def test_a_bad_quota_is_shown_next_to_its_field(console_client, ctx):
    units = tr.f.tree(ctx)
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    form_page = console_client.get("/console/rankings/define")
    refused = console_client.post("/console/rankings/define", data={
        **_define_form(units, quota_value="十个", name=""), "csrf_token": form_csrf(form_page.text)})
    assert refused.status_code == 422
    assert re.search(r'id="e-quota_value">名额应为不小于 0 的整数', refused.text)


def test_a_period_not_yet_ended_is_said_above_the_list(console_client, ctx):
    units = tr.f.tree(ctx)
    definition = tr.define(ctx, units, unit_id=units["institute"])
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    listing = console_client.get(f"/console/rankings?unit_id={units['institute']}")
    refused = console_client.post("/console/rankings/run", data={
        "csrf_token": form_csrf(listing.text), "key": "k-future", "definition_id": definition["id"],
        "unit_id": units["institute"], "period": "2099"})
    assert refused.status_code == 422 and "未能运行" in refused.text and definition["name"] in refused.text
