"""The console in a real headless Chromium: signing in, CSRF refused without its token, and
hostile names (markup, script, spreadsheet formulas) registered everywhere and shown as text
on every page, with no script of theirs run."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.people.tables import Volunteer
from tests import factories as f, test_rankings as tr
from tests.browser import screenshot, wait_until
from tests.console_support import PASSWORD, give_password, sign_in, staff
from tests.test_redemption_support import desk_world

SCRIPT = "<script>window.__pwned = 1</script>"
IMG = "<img src=x onerror=\"window.__pwned = 2\">"
FORMULA = '=HYPERLINK("http://evil.example/","点我")'
HOSTILE = (SCRIPT, IMG, FORMULA)


def assert_nothing_ran(page, *shown: str) -> None:
    """No hostile script ran, no hostile element exists, and each name is on the page as text."""
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script:not([src])").count() == 0  # no inline script on any page
    text = page.inner_text("body")
    for name in shown:
        assert name in text, name


def hostile_world(ctx) -> dict:
    """Units, a team, volunteers with served hours and a ranking definition, all with hostile names."""
    units = f.tree(ctx)
    with ctx.uow() as uow:
        unit = org.create_unit(uow.session, SYSTEM, org.CreateUnit(f.ref("S"), IMG, "station", units["institute"],
                                                                   population=100))
        org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), SCRIPT, unit["id"], "文化文艺"))
        uow.commit()
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    activity = f.activity(ctx, unit["id"], dt.date(2025, 3, 10), title=FORMULA)
    volunteers = [f.volunteer(ctx, unit["id"], name=name) for name in HOSTILE]
    for volunteer_id in volunteers:
        f.served(ctx, recorder, approver, volunteer_id, activity, dt.datetime(2025, 3, 10, 8), 180)
    definition = tr.define(ctx, units, name=FORMULA, eligibility={"min_hours": 1}, quota={"top_n": 3})
    return {"units": units, "unit": unit["id"], "volunteers": volunteers, "definition": definition}


@pytest.mark.browser
def test_a_staff_member_signs_in_and_a_write_without_the_csrf_token_is_refused(ctx, live_url, tablet_page):
    units = f.tree(ctx)
    user, _ = staff(ctx, "unit_admin", units["station_a"])
    page = tablet_page
    page.goto(f"{live_url}/")
    page.fill("#f-username", user.username)
    page.fill("#f-password", "wrong-password")
    page.click("#signin")
    assert page.inner_text("#e-password") == "用户名或密码不正确"
    screenshot(page, "console-signin-wrong-password")
    page.fill("#f-password", PASSWORD)
    page.click("#signin")
    page.wait_for_selector("nav.menu")
    assert "东风村新时代文明实践站" in page.inner_text(".who")
    assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly: no script reads it
    refused = page.evaluate("""async (unit) => {
        const r = await fetch('/volunteers', {method: 'POST', headers: {'Content-Type': 'application/json',
            'Idempotency-Key': 'csrf-test-' + Math.random()}, body: JSON.stringify({name: '王五', home_unit_id: unit})});
        return [r.status, (await r.json()).field];
    }""", units["station_a"])
    assert refused == [403, "csrf_token"]
    allowed = page.evaluate("""async (unit) => {
        const r = await Console.fetch('/volunteers', {method: 'POST', body: JSON.stringify({name: '王五', home_unit_id: unit})});
        return r.status;
    }""", units["station_a"])
    assert allowed == 201
    screenshot(page, "console-home")
    page.click("button:has-text('退出登录')")
    page.wait_for_selector("#signin")


@pytest.mark.browser
def test_hostile_names_are_shown_as_text_on_every_page(ctx, live_url, tablet_page):
    world = hostile_world(ctx)
    admin, _ = staff(ctx, "admin")
    page = tablet_page
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_url, admin.username)
    assert_nothing_ran(page)

    page.goto(f"{live_url}/rankings/page")
    page.wait_for_selector("#definition option", state="attached")
    page.select_option("#definition", str(world["definition"]["id"]))
    page.fill("#period", "2025")
    page.click("#run")
    wait_until(page, "document.querySelectorAll('#entries tr').length === 3")
    assert_nothing_ran(page, FORMULA, SCRIPT, IMG)
    screenshot(page, "console-hostile-rankings")

    page.goto(f"{live_url}/targets/page")
    page.select_option("#unit", str(world["units"]["institute"]))  # its stations: the hostile one too
    page.fill("#period", "2025-Q1")
    page.click("#show")
    wait_until(page, "!document.getElementById('result').classList.contains('hidden') || "
                     "!document.getElementById('error').classList.contains('hidden')")
    assert page.locator("#error.hidden").count() == 1, page.inner_text("#error")
    assert_nothing_ran(page, IMG)
    assert IMG in page.inner_text("#unit")  # the picker shows the unit's name as text
    screenshot(page, "console-hostile-targets")


@pytest.mark.browser
def test_hostile_names_are_shown_as_text_at_the_desk(ctx, live_url, tablet_page):
    world = desk_world(ctx, items=((SCRIPT, 10, 5), (IMG, 20, 5)))
    volunteer_id = f.volunteer(ctx, world.units["station_a"], name=FORMULA)
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
    assert page.inner_text("#v-name") == FORMULA
    assert_nothing_ran(page, SCRIPT, IMG, FORMULA)
    screenshot(page, "console-hostile-desk")


@pytest.mark.browser
def test_a_station_admin_registers_enters_a_grid_and_a_second_person_approves(ctx, live_url, tablet_page, chromium):
    units = f.tree(ctx)
    station, _ = staff(ctx, "unit_admin", units["station_a"])
    institute, _ = staff(ctx, "unit_admin", units["institute"])
    page = tablet_page
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_url, station.username, next_path="/console/volunteers/new")
    page.click("#register")  # nothing filled in: the errors stand next to their fields
    assert page.inner_text("#e-name") == "请填写姓名"
    page.fill("#f-name", "周小红")
    page.select_option("#f-home_unit_id", str(units["station_a"]))
    page.fill("#f-phone", "13700001234")
    page.fill("#f-registered_on", "2025-01-01")  # before the service entered below (not before registration)
    page.click("#register")
    page.wait_for_selector("#v-number")
    number = page.inner_text("#v-number")
    screenshot(page, "console-volunteer")
    page.click("#issue-code")
    page.wait_for_selector("#slip-code")
    assert len(page.inner_text("#slip-code")) == 6
    wait_until(page, "document.getElementById('slip-qr').naturalWidth > 0")
    screenshot(page, "console-code-slip")

    page.goto(f"{live_url}/console/activities")
    page.select_option("#f-unit_id", str(units["station_a"]))
    page.fill("#f-title", "敬老院探访")
    page.select_option("#f-category", "扶贫帮困")
    page.fill("#f-held_on", "2025-10-09")
    page.click("#create-activity")
    page.wait_for_selector("#grid")
    rows = page.locator("#grid tbody tr")
    rows.nth(0).locator("input[name=volunteer]").fill(number)
    rows.nth(0).locator("input[name=start]").fill("09:00")
    rows.nth(0).locator("input[name=end]").fill("08:00")  # wrong: named on its row, nothing recorded
    page.click("#save-grid")
    assert page.locator("#grid tbody tr").nth(0).locator(".row-error").inner_text() == "结束时间必须晚于开始时间"
    screenshot(page, "console-grid-refused")
    page.locator("#grid tbody tr").nth(0).locator("input[name=end]").fill("11:30")
    page.click("#save-grid")
    page.wait_for_selector("#saved")
    assert "已录入 1 条服务记录" in page.inner_text("#saved")

    second = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    sign_in(second, live_url, institute.username, next_path="/console/approvals")
    row = second.locator("#queue tbody tr", has_text="周小红")
    row.locator("input[name=ids]").check()
    second.click("#approve-selected")
    second.wait_for_selector("#done")
    assert "1 条已审核通过并入账" in second.inner_text("#done")
    screenshot(second, "console-approvals")
    second.goto(f"{live_url}/console/volunteers?q={number}")
    second.click(f"text={number}")
    assert second.inner_text("#v-hours") == "2.5"
    second.context.close()


@pytest.mark.browser
def test_an_import_with_a_bad_row_shows_the_row_in_a_table(ctx, live_url, tablet_page):
    admin, _ = staff(ctx, "admin")
    page = tablet_page
    sign_in(page, live_url, admin.username, next_path="/console/imports")
    bad = (Path(__file__).resolve().parent.parent / "docs" / "taizhang-example.csv").read_bytes()
    page.set_input_files("#f-file", files=[{"name": "台账.csv", "mimeType": "text/csv",
                                            "buffer": bad.replace(b"2026-11-05", b"2026-13-45", 1)}])
    page.click("#upload")
    page.wait_for_selector("#bad-rows")
    assert "日期不存在" in page.inner_text("#bad-rows")
    screenshot(page, "console-import-bad-row")
