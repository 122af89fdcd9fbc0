"""The console's everyday work in real headless Chromium at 1280×800: publish a policy after a
what-if, run and publish a ranking, redeem and cancel at the desk.  Screenshots are kept in
test-artifacts/screenshots/."""
from __future__ import annotations

import datetime as dt

import pytest

from tests import factories as f
from tests.browser import screenshot
from tests.console_support import sign_in, staff
from tests.test_rankings import person

DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def desktop_page(chromium):
    """A Playwright page in a 1280×800 window, Chinese locale; confirmations are accepted."""
    context = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def test_a_county_admin_publishes_a_policy_after_its_what_if(ctx, live_url, desktop_page):
    page = desktop_page
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    year = ctx.today().year - 1
    activity = f.activity(ctx, units["station_a"], dt.date(year, 5, 12))
    f.served(ctx, recorder, approver, person(ctx, units["station_a"]), activity, dt.datetime(year, 5, 12, 9), 180)
    admin, _ = staff(ctx, "admin")
    sign_in(page, live_url, admin.username, next_path="/console/policies")
    page.click("summary:has-text('点此展开单位树更换')")
    page.click(f"a[href$='unit_id={units['center']}']")
    assert "每服务 1 小时得 10 积分" in page.inner_text("main")
    page.click("text=发布新版本（填写常用项）")
    page.fill("#f-name", "测试县嘉许激励办法（2026）")
    page.fill("#f-per_hour", "15")
    page.click("button:has-text('测算')")
    page.wait_for_url("**/console/policies/what-if")
    text = page.inner_text("main")
    assert "合计积分增加 15：现行 30 分，草案 45 分。" in text
    assert page.locator("img.chart").count() == 1
    screenshot(page, "console-policy-what-if")
    page.click("#publish")
    page.wait_for_url("**/console/policies?unit_id=*")
    assert "已发布第 1 版激励办法" in page.inner_text("main")
    assert "第 1 版「测试县嘉许激励办法（2026）」，将于" in page.inner_text("main")
    screenshot(page, "console-policy-published")
    page.reload()
    assert "已发布第 1 版激励办法" not in page.inner_text("main")  # the banner of the earlier action is gone
