"""The desk page in a real headless Chromium on a tablet: find a volunteer, pick, redeem, receipt;
a whole market day (stock in, count, pickup, redemption, cancellation, reservation, reconciliation)."""
from __future__ import annotations

import datetime as dt

import pytest

from ledger.book.accounts import balance
from ledger.people.tables import Volunteer
from ledger.redemption import reservations
from ledger.redemption.redeem import Line
from tests import factories as f
from tests.browser import screenshot, wait_until
from tests.console_support import give_password, sign_in
from tests.test_redemption_support import desk_world, give_points, stock_of


@pytest.mark.browser
def test_an_operator_redeems_an_item_through_the_desk_page(ctx, live_url, tablet_page):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"], name="王芳")
    give_points(world, ctx, volunteer_id, 8)  # 80 points
    with ctx.uow() as uow:
        number = uow.session.get(Volunteer, volunteer_id).number
    page = tablet_page
    give_password(ctx, world.operator.username)
    sign_in(page, live_url, world.operator.username, next_path="/desk")
    page.wait_for_selector("#desk-select option", state="attached")
    page.click("#login-btn")
    page.wait_for_selector("#finder:not(.hidden)")
    page.fill("#find-value", number)
    page.click("#find-btn")
    page.wait_for_selector("#volunteer:not(.hidden)")
    assert page.inner_text("#v-name") == "王芳" and page.inner_text("#v-points") == "80"
    oil = world.items["食用油"]
    for _ in range(3):  # 3 × 30 = 90 points, more than her 80: refused, said in Chinese
        page.click(f".item[data-item-id='{oil}'] .plus")
    assert page.inner_text("#cart-total") == "90"
    page.click("#redeem-btn")
    page.wait_for_selector("#error:has-text('积分不足')")
    assert page.inner_text("#error .err-zh") == "积分不足：需要 90 分，当前 80 分"
    assert "points" not in page.inner_text("#error")  # the server speaks Chinese too (api/i18n.py)
    screenshot(page, "desk-page-insufficient-points")
    page.click(f".item[data-item-id='{oil}'] .minus")
    page.click(f".item[data-item-id='{oil}'] .minus")
    assert page.inner_text("#cart-total") == "30"
    screenshot(page, "desk-page-cart")
    page.click("#redeem-btn")
    page.wait_for_selector("#receipt", state="visible")
    # 80 − 30 = 50 points left
    assert page.inner_text("#r-points") == "30" and page.inner_text("#r-balance") == "50"
    assert page.inner_text("#r-number").startswith(world.desk_code + "-")
    screenshot(page, "desk-page-receipt")
    assert stock_of(ctx, oil) == 99
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_points", volunteer_id) == 50


@pytest.mark.browser
def test_the_desk_page_shows_a_clear_error_for_an_unknown_volunteer(ctx, live_url, tablet_page):
    world = desk_world(ctx)
    page = tablet_page
    give_password(ctx, world.operator.username)
    sign_in(page, live_url, world.operator.username, next_path="/desk")
    page.wait_for_selector("#desk-select option", state="attached")
    page.click("#login-btn")
    page.wait_for_selector("#finder:not(.hidden)")
    page.fill("#find-value", "V000000")
    page.click("#find-btn")
    page.wait_for_selector("#error", state="visible")
    assert "志愿者" in page.inner_text("#error .err-zh")


def _login(page, live_url, ctx, username):
    give_password(ctx, username)
    sign_in(page, live_url, username, next_path="/desk")
    page.wait_for_selector("#desk-select option", state="attached")
    page.click("#login-btn")
    page.wait_for_selector("#tabs:not(.hidden)")


def _find(page, number):
    page.fill("#find-value", number)
    page.click("#find-btn")
    page.wait_for_selector("#volunteer:not(.hidden)")
    wait_until(page, "n => document.getElementById('v-number').textContent === n", arg=number)


@pytest.mark.browser
def test_a_market_day_runs_through_the_desk_page(ctx, live_url, tablet_page):
    """Stock in and a count, 王芳 picks up her reservation and takes oil by mistake (cancelled),
    李明 redeems oil (the answer lost on the network; the retry reuses the key), 赵强 reserves
    for the next opening day; the day's reconciliation shows no difference."""
    today = ctx.today()
    world = desk_world(ctx, items=(("大米 5kg", 50, 10), ("食用油", 30, 10)), weekdays=(today.isoweekday(),))
    rice, oil = world.items["大米 5kg"], world.items["食用油"]
    wang, li, zhao = (f.volunteer(ctx, world.units["station_a"], name=n) for n in ("王芳", "李明", "赵强"))
    for volunteer_id in (wang, li, zhao):
        give_points(world, ctx, volunteer_id, 8)  # 80 points each
    with ctx.uow() as uow:  # yesterday 王芳 reserved rice for today, the desk's opening day
        held = reservations.reserve(uow.session, world.admin, world.desk_id, wang,
                                    [Line(rice, 1, 50)], today - dt.timedelta(days=1))
        uow.commit()
        numbers = {v: uow.session.get(Volunteer, v).number for v in (wang, li, zhao)}
    assert held["pickup_on"] == today.isoformat()
    page = tablet_page
    keys = []
    page.on("request", lambda r: keys.append(r.headers.get("idempotency-key"))
            if r.method == "POST" and "find-volunteer" not in r.url and "/signin" not in r.url else None)
    _login(page, live_url, ctx, world.operator.username)
    assert page.inner_text("#pickup-count") == "1"

    # 入库: 5 bottles of oil donated (10 + 5 = 15); 盘点: rice 9 on the books (10 − 1 reserved), 8 counted
    page.click("#tabs button[data-tab=stock]")
    page.select_option("#in-item", str(oil))
    page.fill("#in-qty", "5")
    page.select_option("#in-source", "donation")
    page.fill("#in-note", "爱心企业捐赠")
    page.click("#in-btn")
    page.wait_for_selector("#notice:has-text('已入库')")
    page.select_option("#count-item", str(rice))
    assert page.inner_text("#count-book") == "9 件"
    page.fill("#count-qty", "8")
    page.click("#count-btn")  # no reason: refused, naming the field
    page.wait_for_selector("#error:has-text('reason')")
    page.fill("#count-reason", "破损一袋")
    page.click("#count-btn")
    page.wait_for_selector("#notice:has-text('调整 -1')")
    screenshot(page, "desk-day-1-stock")
    assert (stock_of(ctx, oil), stock_of(ctx, rice)) == (15, 8)

    # 预约取货: 王芳's rice from her held 50 points
    page.click("#tabs button[data-tab=pickup]")
    page.click(f"#pickup-list tr[data-reservation-id='{held['id']}'] .pickup-btn")
    page.wait_for_selector("#receipt", state="visible")
    assert page.inner_text("#r-points") == "50" and page.inner_text("#r-balance") == "30"
    assert page.inner_text("#pickup-count") == "0"
    screenshot(page, "desk-day-2-pickup")
    # she also takes oil (30 − 30 = 0), which was a mistake: cancelled, 30 back
    page.click(f".item[data-item-id='{oil}'] .plus")
    page.click("#redeem-btn")
    wait_until(page, "() => document.getElementById('r-balance').textContent === '0'")
    page.fill("#cancel-reason", "拿错了")
    page.click("#cancel-btn")
    page.wait_for_selector("#r-status:has-text('已撤销')")
    assert page.inner_text("#v-points") == "30"
    screenshot(page, "desk-day-3-cancelled")

    # 李明 redeems oil; the first answer is lost on the way back, the retry sends the same key
    page.click("#next-btn")
    _find(page, numbers[li])
    page.click(f".item[data-item-id='{oil}'] .plus")
    lost = []

    def lose_answer(route):
        route.fetch()  # the server redeems
        lost.append(route.request.headers["idempotency-key"])
        route.abort()

    page.route("**/redemptions", lose_answer, times=1)
    page.click("#redeem-btn")
    page.wait_for_selector("#error:has-text('网络中断')")
    page.click("#redeem-btn")
    page.wait_for_selector("#receipt", state="visible")
    assert page.inner_text("#r-balance") == "50" and keys[-1] == lost[0]  # 80 − 30, once
    screenshot(page, "desk-day-4-redeemed")

    # 赵强 reserves oil for the next opening day: 30 held
    page.click("#next-btn")
    _find(page, numbers[zhao])
    page.click(f".item[data-item-id='{oil}'] .plus")
    page.click("#reserve-btn")
    page.wait_for_selector("#notice:has-text('已为 赵强 预约')")
    assert (page.inner_text("#v-points"), page.inner_text("#v-held")) == ("50", "30")

    # 今日对账: ledger 50 (pickup) + 30 − 30 (cancelled) + 30 (李明) = 80 = the stock book
    page.click("#tabs button[data-tab=reconcile]")
    page.wait_for_selector("#recon-status.ok")
    assert page.inner_text("#recon-status") == "✓ 无差异"
    assert (page.inner_text("#recon-ledger"), page.inner_text("#recon-stock"), page.inner_text("#recon-diff"),
            page.inner_text("#recon-out")) == ("80", "80", "0", "2")
    assert page.locator("#rc-lines tr").count() == 3
    screenshot(page, "desk-day-5-reconciled")

    writes = [k for k in keys if k != lost[0]]
    assert None not in keys and len(set(writes)) == len(writes) == 7  # receive, 2 counts, pickup, redeem, cancel, reserve
    # rice 10 − 1 reserved − 1 counted (pickup: +1 released, −1 redeemed) = 8
    # oil 10 + 5 − 1 (王芳) + 1 (cancelled) − 1 (李明) − 1 (赵强 reserved) = 13
    assert (stock_of(ctx, rice), stock_of(ctx, oil)) == (8, 13)
    with ctx.uow() as uow:
        s = uow.session
        assert [balance(s, "volunteer_points", v) for v in (wang, li, zhao)] == [30, 50, 50]
        assert [balance(s, "volunteer_points_held", v) for v in (wang, li, zhao)] == [0, 0, 30]
