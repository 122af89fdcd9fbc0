"""The volunteer's page (/my) and the public check (/verify) in a real headless Chromium,
in a phone-sized window: sign in, figures, history, certificate download, verification."""
from __future__ import annotations

import datetime as dt

import pytest

from ledger.people import signin
from ledger.store.usecase import write_once
from tests.browser import screenshot, wait_until
from tests.selfservice_support import story

pytestmark = pytest.mark.browser


def _code(ctx, s) -> str:
    limits = signin.Limits.from_options(ctx.options)
    return write_once(ctx, lambda session: signin.issue_code(session, s.recorder, ctx.secret_key, s.volunteer_id,
                                                             kind="code", now=ctx.now(), limits=limits))["code"]


def _fits_the_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _sign_in(page, live_url, number, code) -> None:
    page.goto(f"{live_url}/my")
    page.fill("#number", number)
    page.fill("#code", code)
    page.click("#signin-button")


def test_sign_in_with_a_wrong_code_then_the_right_one_shows_the_figures(ctx, live_url, phone_page):
    s = story(ctx)
    code = _code(ctx, s)
    page = phone_page
    page.goto(f"{live_url}/my")
    assert page.locator("h2").inner_text() == "志愿者登录"
    screenshot(page, "selfservice-signin")
    _sign_in(page, live_url, s.number, "000000" if code != "000000" else "111111")
    wait_until(page, "document.querySelector('#signin-msg').textContent.length > 0")
    assert "不正确" in page.inner_text("#signin-msg")
    _sign_in(page, live_url, s.number, code)
    page.wait_for_selector("#app:not(.hidden)")
    wait_until(page, "document.querySelector('#hours-total').textContent !== '–'")
    # the worked example: 270 min = 4.5 h, 45 points, no star yet, 95.5 h to the first
    assert page.inner_text("#who") == "张三丰 您好"
    assert page.inner_text("#hours-total") == "4.5"
    assert page.inner_text("#hours-year") == "0"
    assert page.inner_text("#points") == "45"
    assert page.inner_text("#points-held") == "0"
    assert "95.5" in page.inner_text("#star-next")
    assert f"45 分将于 {s.last_year + 1}-12-31 到期" in page.inner_text("#expiry")
    _fits_the_phone(page)
    screenshot(page, "selfservice-summary")


def test_history_filters_and_certificate_download_then_public_verification(ctx, live_url, phone_page, tmp_path):
    s = story(ctx)
    page = phone_page
    _sign_in(page, live_url, s.number, _code(ctx, s))
    page.wait_for_selector("#history li[data-kind]")
    titles = page.locator("#history li[data-kind] .t").all_inner_texts()
    assert titles == ["垃圾分类宣传", "广场舞教学"]
    page.fill("#f-from", f"{s.last_year}-03-01")
    page.fill("#f-to", f"{s.last_year}-03-31")
    page.click("#f-apply")
    wait_until(page, "document.querySelectorAll('#history li[data-kind]').length === 1")
    assert page.locator("#history li[data-kind] .t").all_inner_texts() == ["广场舞教学"]
    screenshot(page, "selfservice-history")
    page.click("button[data-tab=memberships]")
    page.wait_for_selector("#memberships li")
    assert "东风村新时代文明实践站" in page.inner_text("#memberships")
    page.click("button[data-tab=certificate]")
    page.fill("#c-from", f"{s.last_year}-01-01")
    page.fill("#c-to", f"{s.last_year}-12-31")
    with page.expect_download() as download_info:
        page.click("#c-issue")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF") and saved.name.startswith("ZM")
    page.wait_for_selector("#c-number")
    number, code = page.inner_text("#c-number"), page.inner_text("#c-code")
    assert saved.name == f"{number}.pdf"
    page.wait_for_selector("#certificates li [data-pdf]")
    _fits_the_phone(page)
    screenshot(page, "selfservice-certificate")
    page.click("#c-verify")
    wait_until(page, "document.querySelector('#verdict').textContent.includes('证明')")
    assert page.inner_text("#verdict") == "✓ 证明真实有效"
    assert page.inner_text("#d-number") == number
    assert page.inner_text("#d-name") == "张**"
    assert page.inner_text("#d-hours").startswith("4.5 小时")
    _fits_the_phone(page)
    screenshot(page, "verify-genuine")
    # the same certificate with one character of its code changed is refused
    altered = code[:-1] + ("0" if code[-1] != "0" else "1")
    page.goto(f"{live_url}/verify?no={number}&code={altered}")
    wait_until(page, "document.querySelector('#verdict').textContent.includes('未通过')")
    assert "证明内容可能被改动过" in page.inner_text("#message")
    assert page.locator("#details").is_hidden()
    screenshot(page, "verify-altered")


def test_an_expired_session_sends_the_volunteer_back_to_sign_in(ctx, live_url, phone_page):
    s = story(ctx)
    page = phone_page
    _sign_in(page, live_url, s.number, _code(ctx, s))
    page.wait_for_selector("#app:not(.hidden)")
    wait_until(page, "document.querySelector('#hours-total').textContent !== '–'")
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + dt.timedelta(hours=13)
    page.reload()
    page.wait_for_selector("#signin:not(.hidden)")
    # the message is written after the form is shown: wait for it rather than race it
    wait_until(page, "document.querySelector('#signin-msg').textContent.includes('登录已过期')")
    assert "登录已过期" in page.inner_text("#signin-msg")
