"""The service loop's phone pages in a real headless Chromium (390×844): a resident orders and
later rates; a volunteer signs in, signs up, signs in and out by pasting the code's URL, and
sees the points as points; large-text mode.  The staff's steps between run as use cases."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from ledger.people import signin
from ledger.service import checkin, orders, records as service_records, signup
from ledger.store.usecase import write_once
from tests.browser import live_server, screenshot
from tests.loop_support import clocked, do, world

pytestmark = pytest.mark.browser


def _fits_the_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _code_for(ctx, w, volunteer_index=0) -> str:
    limits = signin.Limits.from_options(ctx.options)
    return write_once(ctx, lambda s: signin.issue_code(s, w["admins"]["station"], ctx.secret_key,
                                                       w["volunteers"][volunteer_index], kind="code",
                                                       now=ctx.now(), limits=limits))["code"]


def _order_from_the_page(page, url, w) -> str:
    page.goto(f"{url}/order?unit_id={w['units']['station_a']}")
    page.select_option("#kind", "文化服务")
    page.fill("#title", "重阳节文艺演出")
    page.fill("#place", "东风村文化礼堂")
    page.fill("#day", "2026-11-10")
    page.fill("#time", "09:00")
    page.fill("#contact_name", "赵大爷")
    page.fill("#phone", "13912345678")
    question = page.inner_text("label[for=answer]")
    first, second = (int(n) for n in re.findall(r"\d+", question))
    page.fill("#answer", str(first + second))
    screenshot(page, "loop-order-form")
    page.click("button[type=submit]")
    page.wait_for_selector("#link")
    assert page.inner_text("#state") == "待派单"
    assert "13912345678" not in page.content() and "139****5678" in page.content()
    _fits_the_phone(page)
    screenshot(page, "loop-order-submitted")
    return page.inner_text("#link")


def test_a_resident_orders_a_volunteer_serves_by_scanning_and_the_resident_rates(ctx, phone_page):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    admins = w["admins"]
    page = phone_page
    with live_server(ctx) as url:
        link = _order_from_the_page(page, url, w)
        order_id = int(re.search(r"/order/(\d+)\?", link).group(1))
        do(ctx, lambda s: orders.dispatch_order(s, admins["center"], order_id, orders.DispatchOrder(
            deadline=dt.datetime(2026, 11, 9, 18, 0), team_id=w["team"]), ctx.now()))
        activity_id = do(ctx, lambda s: orders.take_order(s, admins["station"], order_id, orders.TakeOrder(),
                                                          ctx.now()))["activity_id"]
        do(ctx, lambda s: signup.publish_recruitment(s, admins["station"], activity_id, signup.PublishRecruitment(
            quota=3, deadline=dt.datetime(2026, 11, 9, 20, 0)), ctx.now()))

        # the volunteer signs in on their phone and signs up
        page.goto(f"{url}/phone")
        page.fill("#number", do(ctx, lambda s: _number(s, w["volunteers"][0])))
        page.fill("#code", _code_for(ctx, w))
        page.click("button[type=submit]")
        page.wait_for_selector("#recruitments")
        assert "重阳节文艺演出" in page.inner_text("#recruitments")
        page.click("#recruitments button:has-text('报名')")
        assert "报名成功" in page.inner_text(".msg.ok")
        assert "取消报名" in page.inner_text("#recruitments")
        screenshot(page, "loop-phone-signed-up")

        # at the activity: paste the code's URL, 签到; a stale URL is refused; a fresh one, 签退
        clock.set(dt.datetime(2026, 11, 10, 9, 0))
        first_code = url + checkin.current_code(ctx.secret_key, activity_id, ctx.now())["path"]
        page.goto(f"{url}/phone")
        page.fill("#code", first_code)
        page.click("#scan button[value=in]")
        assert "签到成功" in page.inner_text(".msg.ok")
        clock.set(dt.datetime(2026, 11, 10, 11, 0))
        page.fill("#code", first_code)
        page.click("#scan button[value=out]")
        assert "过期" in page.inner_text(".msg.err")
        screenshot(page, "loop-phone-expired-code")
        page.fill("#code", url + checkin.current_code(ctx.secret_key, activity_id, ctx.now())["path"])
        page.click("#scan button[value=out]")
        assert "本次服务 2 小时 0 分钟" in page.inner_text(".msg.ok")
        assert "已签退" in page.inner_text("#recruitments")
        screenshot(page, "loop-phone-signed-out")

        # a second person approves; the station completes; the points show as points
        record_id = do(ctx, lambda s: checkin.attendance(s, admins["station"], activity_id))["records"][0]["id"]
        do(ctx, lambda s: service_records.approve_record(s, admins["institute"], record_id))
        do(ctx, lambda s: orders.complete_order(s, admins["station"], order_id, ctx.now()))
        page.goto(f"{url}/phone")
        assert page.inner_text("#points") == "20 分" and page.inner_text("#hours") == "2 小时"
        page.click("text=大字模式")
        assert "large" in (page.get_attribute("body", "class") or "")
        _fits_the_phone(page)
        screenshot(page, "loop-phone-large-text")

        # the phone stays signed in: a month later the page still opens on the figures
        clock.set(dt.datetime(2026, 12, 10, 11, 0))
        page.goto(f"{url}/phone")
        assert page.inner_text("#points") == "20 分"

        # the resident rates from their link: 5 → 20 × 1.2 = 24 points
        page.goto(link)
        page.check("input[name=rating][value='5']")
        page.fill("#comment", "演出很精彩")
        page.click("button:has-text('提交评价')")
        assert "谢谢您的评价" in page.inner_text(".msg.ok")
        assert page.inner_text("#state") == "已评单"
        screenshot(page, "loop-order-rated")
        page.goto(f"{url}/phone")
        assert page.inner_text("#points") == "24 分"
        cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "loop_volunteer")
        page.click("button:has-text('退出登录')")
        assert page.locator("#number").count() == 1  # signed out: the sign-in form again
        assert page.request.get(f"{url}/recruitments/open",
                                headers={"Authorization": f"Bearer {cookie}"}).status == 401  # the session ended


def _number(session, volunteer_id):
    from ledger.people.tables import Volunteer

    return session.get(Volunteer, volunteer_id).number


def test_a_page_refuses_a_form_without_its_token_and_sends_a_strict_policy(ctx, phone_page):
    page = phone_page
    with live_server(ctx) as url:
        response = page.goto(f"{url}/order")
        policy = response.headers["content-security-policy"]
        assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert page.evaluate("document.scripts.length") == 0
        forged = page.request.post(f"{url}/phone/sign-in", form={"number": "V1", "code": "1", "csrf": "forged"})
        assert forged.status == 403 and "页面已过期" in forged.text()
