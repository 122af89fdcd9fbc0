"""Staff sign-in to the console: password, server-side session in an HttpOnly cookie, CSRF on
every form and cookie-borne write, sign-out, password change, lock-out, per-role menus."""
from __future__ import annotations

import pytest

from ledger.people import passwords, sessions
from ledger.people.tables import StaffSession
from tests import factories as f
from tests.console_support import PASSWORD, client_sign_in, console_client, form_csrf, give_password, staff  # noqa: F401


def test_a_password_is_stored_as_an_argon2_hash_and_checked():
    stored = passwords.hash_password("一个很长的密码abc")
    assert stored.startswith("$argon2id$") and "一个很长的密码abc" not in stored
    assert passwords.password_matches(stored, "一个很长的密码abc")
    assert not passwords.password_matches(stored, "一个很长的密码abd")
    assert not passwords.password_matches(None, "anything")


def test_signing_in_opens_a_session_in_an_httponly_strict_cookie(console_client, ctx):
    units = f.tree(ctx)
    user, _ = staff(ctx, "unit_admin", units["station_a"])
    answer = client_sign_in(console_client, user.username)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ledger_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    home = console_client.get("/")
    assert home.status_code == 200 and user.username in home.text and "单位管理员" in home.text
    assert console_client.get("/me").json()["username"] == user.username  # the JSON API accepts the cookie too
    with ctx.uow() as uow:
        token = answer.cookies["ledger_session"]
        row = uow.session.query(StaffSession).filter_by(token_hash=sessions.session_digest(token)).one()
        assert row.revoked_at is None and token not in row.token_hash


def test_a_wrong_password_is_refused_in_chinese_next_to_the_field(console_client, ctx):
    user, _ = staff(ctx, "admin")
    answer = client_sign_in(console_client, user.username, "wrong-password")
    assert answer.status_code == 401
    assert 'class="field-error" id="e-password">用户名或密码不正确' in answer.text
    assert "ledger_session" not in answer.cookies
    assert client_sign_in(console_client, "nobody-" + user.username, PASSWORD).status_code == 401  # same answer


def test_the_sign_in_form_refuses_a_post_without_its_csrf_token(console_client, ctx):
    user, _ = staff(ctx, "admin")
    console_client.get("/")
    answer = console_client.post("/signin", data={"username": user.username, "password": PASSWORD, "csrf_token": "forged"},
                         follow_redirects=False)
    assert answer.status_code == 403 and "页面已过期或来源不明" in answer.text
    assert "ledger_session" not in answer.cookies


def test_after_five_wrong_passwords_the_user_is_locked_out_even_with_the_right_one(console_client, ctx):
    user, _ = staff(ctx, "admin")
    for _ in range(5):
        assert client_sign_in(console_client, user.username, "wrong-password").status_code in (401, 429)
    locked = client_sign_in(console_client, user.username, PASSWORD)
    assert locked.status_code == 429 and "密码错误次数过多，请 15 分钟后再试" in locked.text


def test_forms_and_cookie_borne_writes_need_the_csrf_token(console_client, ctx):
    units = f.tree(ctx)
    user, _ = staff(ctx, "unit_admin", units["station_a"])
    client_sign_in(console_client, user.username)
    refused = console_client.post("/signout", data={})
    assert refused.status_code == 403 and "页面已过期" in refused.text
    body = {"name": "王五", "home_unit_id": units["station_a"]}
    write = console_client.post("/volunteers", json=body, headers={"Idempotency-Key": f.ref("k")})
    assert write.status_code == 403 and write.json()["field"] == "csrf_token"
    csrf = form_csrf(console_client.get("/").text)
    allowed = console_client.post("/volunteers", json=body, headers={"Idempotency-Key": f.ref("k"), "X-CSRF-Token": csrf})
    assert allowed.status_code == 201, allowed.text


def test_signing_out_revokes_the_session_at_once(console_client, ctx):
    user, _ = staff(ctx, "admin")
    token = client_sign_in(console_client, user.username).cookies["ledger_session"]
    csrf = form_csrf(console_client.get("/").text)
    assert console_client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    console_client.cookies.set("ledger_session", token)  # the old cookie, replayed
    assert console_client.get("/me").status_code == 401
    assert console_client.get("/account/password", follow_redirects=False).headers["location"] == "/?next=/account/password"


def test_changing_the_password_ends_the_other_sessions(console_client, ctx):
    user, _ = staff(ctx, "admin")
    other = client_sign_in(console_client, user.username).cookies["ledger_session"]
    console_client.cookies.clear()
    client_sign_in(console_client, user.username)
    csrf = form_csrf(console_client.get("/account/password").text)
    mismatch = console_client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                      "new_password": "new-password-1", "new_password_again": "x"})
    assert mismatch.status_code == 422 and "两次输入的新密码不一致" in mismatch.text
    short = console_client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                   "new_password": "short", "new_password_again": "short"})
    assert short.status_code == 422 and "密码至少 8 个字符" in short.text
    done = console_client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                  "new_password": "new-password-1",
                                                  "new_password_again": "new-password-1"})
    assert done.status_code == 200 and "密码已修改" in done.text
    assert console_client.get("/me").status_code == 200  # this session goes on
    mine = console_client.cookies.get("ledger_session")
    console_client.cookies.set("ledger_session", other)
    assert console_client.get("/me").status_code == 401  # the other one ended
    console_client.cookies.set("ledger_session", mine)
    console_client.cookies.delete("ledger_session")
    assert client_sign_in(console_client, user.username, "new-password-1").status_code == 303


def test_volunteers_and_users_without_a_password_cannot_sign_in_to_the_console(console_client, ctx):
    units = f.tree(ctx)
    volunteer_id = f.volunteer(ctx, units["station_a"])
    volunteer_user, _ = f.user(ctx, "volunteer", volunteer_id=volunteer_id)
    with pytest.raises(Exception):
        give_password(ctx, volunteer_user.username)
    token_only, _ = f.user(ctx, "admin")
    assert client_sign_in(console_client, token_only.username, "").status_code == 422
    assert client_sign_in(console_client, token_only.username, PASSWORD).status_code == 401


@pytest.mark.parametrize("role, sees, not_sees", [
    ("desk_operator", ["兑换点"], ["评先评优", "目标考核"]),
    ("unit_admin", ["评先评优", "目标考核", "兑换点"], ["审计"]),  # unit admins keep their desks' catalogues
    ("auditor", ["评先评优"], ["兑换点"]),
])
def test_each_role_sees_only_its_menu_and_pages(console_client, ctx, role, sees, not_sees):
    units = f.tree(ctx)
    user, _ = staff(ctx, role, units["station_a"] if role != "auditor" else None)
    client_sign_in(console_client, user.username)
    nav = console_client.get("/").text.split('<nav class="menu"', 1)[1].split("</nav>", 1)[0]
    assert all(label in nav for label in sees) and not any(label in nav for label in not_sees)
    if role == "desk_operator":
        assert console_client.get("/rankings/page").status_code == 403
    elif role == "unit_admin":
        assert console_client.get("/console/audit").status_code == 403
    else:
        assert console_client.get("/desk").status_code == 403


def test_pages_need_a_session_and_are_served_with_a_strict_content_security_policy(console_client, ctx):
    answer = console_client.get("/rankings/page", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/?next=/rankings/page"
    page = console_client.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text and " style=" not in page.text
    assert page.headers["x-content-type-options"] == "nosniff"


def test_sign_in_goes_on_only_to_a_path_of_this_site(console_client, ctx):
    user, _ = staff(ctx, "admin")
    csrf = form_csrf(console_client.get("/?next=//evil.example/x").text)
    answer = console_client.post("/signin", data={"username": user.username, "password": PASSWORD, "csrf_token": csrf,
                                          "next": "//evil.example/x"}, follow_redirects=False)
    assert answer.headers["location"] == "/"
