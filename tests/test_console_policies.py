"""激励办法 in the console: the policy in force in Chinese, a draft from the form or TOML, the
what-if before publishing, publication once per key, errors next to the field, scope."""
from __future__ import annotations

import datetime as dt
import html
import re

from tests import factories as f
from tests.console_support import client_sign_in, console_client, form_csrf, staff  # noqa: F401
from tests.test_rankings import person


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*?value="([^"]*)"', html)
    assert found, name
    return found[1]


def _served_last_year(ctx, units):
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    year = ctx.today().year - 1
    activity = f.activity(ctx, units["station_a"], dt.date(year, 3, 10))
    f.served(ctx, recorder, approver, person(ctx, units["station_a"]), activity, dt.datetime(year, 3, 10, 9), 120)


def test_an_admin_prices_a_draft_then_publishes_it_once(console_client, ctx):
    units = f.tree(ctx)
    _served_last_year(ctx, units)
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    shown = console_client.get(f"/console/policies?unit_id={units['center']}")
    assert shown.status_code == 200 and "每服务 1 小时得 10 积分" in shown.text
    assert "东风村新时代文明实践站" in shown.text  # the unit tree
    draft = console_client.get(f"/console/policies/draft?unit_id={units['center']}&mode=form")
    values = {name: _hidden(draft.text, name) for name in ("per_day_hours", "per_activity_hours", "per_year_hours",
                                                            "star_hours", "effective_from", "period_from",
                                                            "period_to", "expiry_months")}
    form = {**values, "csrf_token": form_csrf(draft.text), "unit_id": units["center"], "mode": "form",
            "name": "二〇二六年办法", "description": "", "per_hour": "20", "rounding": "half_up",
            "expiry_rule": "end_of_following_year"}
    priced = console_client.post("/console/policies/what-if", data=form)
    assert priced.status_code == 200 and "合计积分增加 20：现行 20 分，草案 40 分。" in priced.text
    assert 'src="data:image/png;base64,' in priced.text and "确认发布" in priced.text
    publish = {"csrf_token": form_csrf(priced.text), "unit_id": units["center"],
               "effective_from": _hidden(priced.text, "effective_from"), "key": _hidden(priced.text, "key"),
               "document": html.unescape(re.search(r'<textarea name="document"[^>]*>(.*?)</textarea>',
                                                   priced.text, re.S)[1])}
    first = console_client.post("/console/policies/publish", data=publish, follow_redirects=False)
    again = console_client.post("/console/policies/publish", data=publish, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == again.headers["location"]
    assert first.headers["location"].endswith("published=1")
    page = console_client.get(first.headers["location"])
    assert "已发布第 1 版激励办法" in page.text and "二〇二六年办法" in page.text


def test_a_bad_field_is_refused_next_to_it_in_chinese(console_client, ctx):
    units = f.tree(ctx)
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    draft = console_client.get(f"/console/policies/draft?unit_id={units['center']}&mode=form")
    form = {"csrf_token": form_csrf(draft.text), "unit_id": units["center"], "mode": "form", "name": "x",
            "per_hour": "十分", "rounding": "half_up", "expiry_rule": "none", "star_hours": "100",
            "effective_from": "2026-13-01", "period_from": "2025-01-01", "period_to": "2025-12-31"}
    refused = console_client.post("/console/policies/what-if", data=form)
    assert refused.status_code == 422
    assert re.search(r'id="e-per_hour">每小时积分应为数字', refused.text)
    assert re.search(r'id="e-effective_from">请填写日期', refused.text)


def test_a_draft_needs_its_csrf_token(console_client, ctx):
    units = f.tree(ctx)
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    refused = console_client.post("/console/policies/what-if", data={"unit_id": units["center"], "mode": "toml",
                                                                     "document": "x"})
    assert refused.status_code == 403


def test_a_station_admin_sees_only_their_units_and_may_not_publish(console_client, ctx):
    units = f.tree(ctx)
    admin, _ = staff(ctx, "unit_admin", units["station_a"])
    client_sign_in(console_client, admin.username)
    own = console_client.get("/console/policies")
    assert own.status_code == 200 and "东风村新时代文明实践站" in own.text and "南岭村" not in own.text
    other = console_client.get(f"/console/policies?unit_id={units['station_b']}")
    assert other.status_code == 404 and "不在您的管辖范围" in other.text
