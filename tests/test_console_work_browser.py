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


def test_a_county_admin_defines_runs_and_publishes_a_ranking(ctx, live_url, desktop_page):
    from tests import test_rankings as tr

    page = desktop_page
    units, _, _, _ = tr.build(ctx)
    admin, _ = staff(ctx, "admin")
    sign_in(page, live_url, admin.username, next_path=f"/console/rankings?unit_id={units['institute']}")
    page.click("text=新建评选办法")
    page.fill("#f-name", "2025年度优秀志愿者")
    page.click("summary:has-text('点此展开单位树更换')")
    page.check(f"input[name=unit_id][value='{units['institute']}']")
    page.fill("#f-min_hours", "2")
    page.fill("#f-quota_value", "2")
    page.check("input[name=quota_per_unit]")
    screenshot(page, "console-ranking-define")
    page.click("button:has-text('保存评选办法')")
    page.wait_for_url("**/console/rankings?unit_id=*")
    assert "前 2 名入围，每个下级单位分别计算名额。" in page.inner_text("main")
    page.fill("input[name=period]", "2025")
    # hold the submission once, to see what the page shows while a run goes on, then send it
    page.evaluate("document.addEventListener('submit', (event) => event.preventDefault(), {once: true})")
    page.click("button:has-text('运行排名')")
    assert "正在运行排名" in page.inner_text(".busy")
    assert page.locator("button:has-text('运行排名')").is_disabled()
    screenshot(page, "console-ranking-running")
    page.evaluate("document.querySelector(\"form[action='/console/rankings/run']\").submit()")
    page.wait_for_url("**/console/rankings/runs/*")
    text = page.inner_text("main")
    assert "候选 5 人，符合条件 4 人，入围 3 人" in text and "甲" in text
    screenshot(page, "console-ranking-run")
    page.click("#publish")
    page.wait_for_selector("[data-flash]:has-text('已发布为正式名单')")
    assert "已发布为正式名单" in page.inner_text("main") and page.locator("#publish").count() == 0
    page.click("#notice-start")
    page.wait_for_selector("#notice")
    assert "公示：公示中" in page.inner_text("#notice")
    screenshot(page, "console-ranking-published")


def test_a_desk_operator_redeems_and_cancels_on_a_tablet(ctx, live_url, tablet_page):
    from tests.test_console_desk import desk_world

    page = tablet_page
    page.on("dialog", lambda dialog: dialog.accept())
    units, desk_id, item_id, volunteer = desk_world(ctx)
    operator, _ = staff(ctx, "desk_operator", units["station_a"], desk_id=desk_id)
    sign_in(page, live_url, operator.username, next_path="/console/desk")
    page.fill("#f-q", "秀英")
    page.click("button:has-text('查找')")
    page.click("a:has-text('选择')")
    page.fill(f"#qty-{item_id}", "2")
    assert "积分不足：还差 10 分" in page.inner_text("[data-cart-short]")  # said before anything is sent
    assert page.locator("#redeem").is_disabled()
    screenshot(page, "console-desk-short")
    page.fill(f"#qty-{item_id}", "1")
    assert page.locator("#redeem").is_enabled()
    page.click("#redeem")
    page.wait_for_selector("#done")
    assert "余额 20 分" in page.inner_text("#done")
    screenshot(page, "console-desk-redeemed")
    page.fill("input[name=reason]", "拿错了")
    page.click("button:has-text('撤销')")
    page.wait_for_selector("#done:has-text('已撤销')")
    assert "积分和库存已退回" in page.inner_text("#done") and "撤销原因：拿错了" in page.inner_text("main")
    screenshot(page, "console-desk-cancelled")
