"""The rankings and targets pages in a real headless Chromium: run a selection, see the ranked
list and the chart, publish; show a targets report with its chart."""
from __future__ import annotations

import pytest

from tests import test_rankings as tr, test_targets as tt
from tests.browser import screenshot, wait_until
from tests.console_support import sign_in, staff


@pytest.mark.browser
def test_rankings_page_runs_publishes_and_shows_the_chart(ctx, live_url, tablet_page):
    units, v, _, _ = tr.build(ctx)
    tr.define(ctx, units, name="页面测试年度评选")
    admin, _ = staff(ctx, "admin")
    page = tablet_page
    page.on("dialog", lambda dialog: dialog.accept())  # "publish?" is confirmed
    sign_in(page, live_url, admin.username, next_path="/rankings/page")
    page.wait_for_selector("#definition option", state="attached")
    page.select_option("#definition", label=page.locator("#definition option", has_text="页面测试年度评选")
                       .first.inner_text())
    page.fill("#period", "2025")
    page.click("#run")
    page.wait_for_selector("#entries tr")
    rows = page.locator("#entries tr")
    assert rows.count() == 5
    assert "丙" in rows.nth(0).inner_text() or "丙" in page.locator("#entries").inner_text()
    wait_until(page, "document.getElementById('chart').naturalWidth > 0")
    page.click("#publish")
    page.wait_for_selector(".badge.pub")
    page.click("#reproduce")
    wait_until(page, "document.getElementById('reproduced').textContent.includes('一致')")
    screenshot(page, "rankings-page")


@pytest.mark.browser
def test_targets_page_shows_the_figures_and_the_chart(ctx, live_url, phone_page):
    units, _, _ = tt.build(ctx)
    admin, _ = staff(ctx, "admin")
    page = phone_page
    sign_in(page, live_url, admin.username, next_path="/targets/page")
    page.select_option("#unit", str(units["institute"]))
    page.fill("#period", "2025-Q2")
    page.click("#store")
    page.wait_for_selector("#teams tr")
    assert "66.67" in page.locator("#rates").inner_text()
    assert "2025-04、2025-06" in page.locator("#stations").inner_text()
    wait_until(page, "document.getElementById('chart').naturalWidth > 0")
    screenshot(page, "targets-page")
