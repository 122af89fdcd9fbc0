"""The rankings and targets pages in a real headless Chromium: run a selection, see the ranked
list and the chart, publish; show a targets report with its chart."""
from __future__ import annotations

import pytest

from tests import factories as f, test_rankings as tr, test_targets as tt
from tests.browser import screenshot


@pytest.mark.browser
def test_rankings_page_runs_publishes_and_shows_the_chart(ctx, live_url, tablet_page):
    units, v, _, _ = tr.build(ctx)
    tr.define(ctx, units, name="页面测试年度评选")
    _, token = f.user(ctx, "admin")
    page = tablet_page
    page.goto(f"{live_url}/rankings/page")
    page.fill("#token", token)
    page.click("#login")
    page.select_option("#definition", label=page.locator("#definition option", has_text="页面测试年度评选")
                       .first.inner_text())
    page.fill("#period", "2025")
    page.click("#run")
    page.wait_for_selector("#entries tr")
    rows = page.locator("#entries tr")
    assert rows.count() == 5
    assert "丙" in rows.nth(0).inner_text() or "丙" in page.locator("#entries").inner_text()
    page.wait_for_function("document.getElementById('chart').naturalWidth > 0")
    page.click("#publish")
    page.wait_for_selector(".badge.pub")
    page.click("#reproduce")
    page.wait_for_function("document.getElementById('reproduced').textContent.includes('一致')")
    screenshot(page, "rankings-page")


@pytest.mark.browser
def test_targets_page_shows_the_figures_and_the_chart(ctx, live_url, phone_page):
    units, _, _ = tt.build(ctx)
    _, token = f.user(ctx, "admin")
    page = phone_page
    page.goto(f"{live_url}/targets/page")
    page.fill("#token", token)
    page.fill("#unit", str(units["institute"]))
    page.fill("#period", "2025-Q2")
    page.click("#store")
    page.wait_for_selector("#teams tr")
    assert "66.67" in page.locator("#rates").inner_text()
    assert "2025-04、2025-06" in page.locator("#stations").inner_text()
    page.wait_for_function("document.getElementById('chart').naturalWidth > 0")
    screenshot(page, "targets-page")
