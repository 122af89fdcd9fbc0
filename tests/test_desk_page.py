"""The desk page in a real headless Chromium on a tablet: find a volunteer, pick, redeem, receipt."""
from __future__ import annotations

import pytest

from ledger.accounts import balance
from ledger.tables import Volunteer
from tests import factories as f
from tests.browser import screenshot
from tests.test_redemption_support import desk_world, give_points, stock_of


@pytest.mark.browser
def test_an_operator_redeems_an_item_through_the_desk_page(ctx, live_url, tablet_page):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"], name="王芳")
    give_points(world, ctx, volunteer_id, 8)  # 80 points
    with ctx.uow() as uow:
        number = uow.session.get(Volunteer, volunteer_id).number
    page = tablet_page
    page.goto(f"{live_url}/desk")
    page.fill("#token", world.operator_token)
    page.wait_for_selector("#desk-select option", state="attached")
    page.click("#login-btn")
    page.wait_for_selector("#finder:not(.hidden)")
    page.fill("#find-value", number)
    page.click("#find-btn")
    page.wait_for_selector("#volunteer:not(.hidden)")
    assert page.inner_text("#v-name") == "王芳" and page.inner_text("#v-points") == "80"
    oil = world.items["食用油"]
    page.click(f".item[data-item-id='{oil}'] .plus")
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
    page.goto(f"{live_url}/desk")
    page.fill("#token", world.operator_token)
    page.wait_for_selector("#desk-select option", state="attached")
    page.click("#login-btn")
    page.wait_for_selector("#finder:not(.hidden)")
    page.fill("#find-value", "V000000")
    page.click("#find-btn")
    page.wait_for_selector("#error", state="visible")
    assert "number" in page.inner_text("#error")
