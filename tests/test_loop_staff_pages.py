"""The organiser's pages of the service loop in a real headless Chromium (tablet), signed in through
the staff console's session: the center dispatches from its queue, the station takes the order,
recruits, shows the rotating QR code, signs a volunteer in and out by hand, a second person
approves; an application is confirmed; the report counts."""
from __future__ import annotations

import datetime as dt

import pytest

from ledger.people import applications
from ledger.service import orders
from tests import factories as f
from tests.browser import live_server, screenshot
from tests.console_support import give_password, sign_in
from tests.loop_support import answered, clocked, do, world

pytestmark = pytest.mark.browser


def _sign_in(page, url, principal, path="/loop"):
    """Sign in through the staff console's form (name and password), then open `path`."""
    page.context.clear_cookies()
    give_password(page.ctx_for_test, principal.username)
    sign_in(page, url, principal.username)
    page.goto(url + path)


def test_the_organiser_dispatches_takes_recruits_shows_the_code_and_signs_people_by_hand(ctx, tablet_page):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    challenge, answer = answered(ctx)
    order = do(ctx, lambda s: orders.submit_order(s, ctx.secret_key, orders.SubmitOrder(
        unit_id=w["units"]["station_a"], kind="文明创建", title="<b>垃圾分类</b>宣传", place="村口",
        wanted_at=dt.datetime(2026, 11, 10, 9, 0), contact_name="孙伯", phone="13812345678"),
        now=ctx.now(), client_address="10.1.1.1", challenge=challenge, answer=answer))
    page = tablet_page
    page.ctx_for_test = ctx
    with live_server(ctx) as url:
        _sign_in(page, url, w["admins"]["center"])
        card = page.locator(f"#order-{order['id']}")
        assert "<b>垃圾分类</b>宣传" in card.inner_text()  # a name from the database is text, never markup
        screenshot(page, "loop-staff-dispatch-queue")
        card.locator("select[name=target]").select_option(f"team:{w['team']}")
        card.locator("button:has-text('派单')").click()
        assert "已完成" in page.inner_text(".msg.ok")

        _sign_in(page, url, w["admins"]["station"], "/loop/orders/new")  # a resident phoned the station
        page.select_option("#kind", "理论宣讲")
        for field, value in (("#title", "惠民政策宣讲"), ("#place", "村委会"), ("#day", "2026-11-12"),
                             ("#time", "10:00"), ("#contact_name", "周大爷"), ("#phone", "13722223333")):
            page.fill(field, value)
        page.click("button:has-text('提交点单')")
        assert "/order/" in page.inner_text("#link")  # the 评单 link to give the resident
        page.goto(url + "/loop?queue=take")
        page.locator(f"#order-{order['id']} button:has-text('接单')").click()
        assert "已完成" in page.inner_text(".msg.ok")
        page.goto(url + "/loop?queue=complete")
        page.locator(f"#order-{order['id']} a").click()
        page.fill("#quota", "5")
        page.select_option("#requires_signup", "no")  # walk-ins may sign in
        page.click("#recruit button")
        assert "报名名单（0/5）" in page.inner_text("#signups")
        page.click("text=显示签到二维码")
        # the QR image loads (decode() waits for it) and is a picture
        assert page.locator("img[alt=签到二维码]").evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
        assert "/checkin?a=" in page.inner_text("#code-url")
        screenshot(page, "loop-staff-qr")
        page.click("text=返回活动")
        activity_path = page.url.removeprefix(url)
        clock.set(dt.datetime(2026, 11, 10, 11, 0))  # the next day: the organiser signs in again
        _sign_in(page, url, w["admins"]["station"], activity_path)
        form = page.locator("#attendance form")
        form.locator("input[name=volunteer_id]").fill(str(w["volunteers"][1]))
        form.locator("input[name=at]").fill("2026-11-10T09:00")
        form.locator("button").click()
        form = page.locator("#attendance form")
        form.locator("input[name=volunteer_id]").fill(str(w["volunteers"][1]))
        form.locator("select[name=direction]").select_option("out")
        form.locator("input[name=at]").fill("2026-11-10T10:30")
        form.locator("button").click()
        assert "90 分钟" in page.inner_text("#records") and "待审核" in page.inner_text("#records")
        screenshot(page, "loop-staff-activity")
        assert page.locator("#records button").count() == 0  # the organiser recorded it: another approves
        _sign_in(page, url, w["admins"]["institute"], "/loop?queue=complete")
        page.locator(f"#order-{order['id']} a").click()
        page.click("#records button:has-text('审核通过')")
        assert "已入账" in page.inner_text("#records")

        challenge, answer = answered(ctx)
        do(ctx, lambda s: applications.apply(s, ctx.secret_key, applications.Apply(
            w["units"]["station_a"], "冯丽", f.random_id_number()), now=ctx.now(), today=ctx.today(),
            client_address="10.1.1.2", challenge=challenge, answer=answer))
        page.goto(url + "/loop/applications")
        assert "冯丽" in page.inner_text("main")
        page.locator("button:has-text('确认为志愿者')").first.click()
        assert "已完成" in page.inner_text(".msg.ok")

        page.goto(url + "/loop/report?unit_id={}&date_from=2026-11-01&date_to=2026-11-30".format(
            w["units"]["station_a"]))
        total = page.locator("#report tr").last.inner_text()
        assert total.split("\t")[:5] == ["合计", "2", "1", "1", "0"]  # two received (one by phone), one on
        screenshot(page, "loop-staff-report")
