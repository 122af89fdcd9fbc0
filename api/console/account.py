"""Signing in and out of the console, the home page, and changing one's password.

`/` shows the sign-in form, or the home page when signed in.  The sign-in form has no
session yet, so its CSRF token is a double-submit one: a random value in a cookie of its
own and in the form, which must agree.
"""
from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool

from api import staff_session
from api.console.web import FormErrors, Staff, StaffDep, StaffForm, page, redirect, safe_next
from api.deps import CtxDep
from ledger.errors import LedgerError, Unauthenticated
from ledger.people import sessions

router = APIRouter(include_in_schema=False)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _sign_in_form(request: Request, next_url: str, *, username: str = "", errors: FormErrors | None = None,
                  status: int = 200):
    token = secrets.token_urlsafe(24)
    response = page(request, "console/signin.html", None, status=status, next_url=safe_next(next_url),
                    username=username, form_csrf=token, errors=errors or FormErrors())
    response.set_cookie(staff_session.PRE_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=staff_session.is_https(request), path="/")
    return response


@router.get("/")
def home(request: Request, ctx: CtxDep, next: str = "/"):
    """The home page of a signed-in staff member, else the sign-in form."""
    try:
        identity = staff_session.identity(request, ctx)
    except Unauthenticated:
        return _sign_in_form(request, next)
    staff = Staff(identity=identity, csrf=staff_session.csrf_for(request, ctx))
    return page(request, "console/home.html", staff, active="home")


@router.post("/signin")
async def sign_in(request: Request, ctx: CtxDep, username: Annotated[str, Form(max_length=100)] = "",
                  password: Annotated[str, Form(max_length=200)] = "",
                  csrf_token: Annotated[str, Form(max_length=100)] = "", next: Annotated[str, Form()] = "/"):
    """Check the name and password; open a session and go on to `next`."""
    errors = FormErrors()
    expected = request.cookies.get(staff_session.PRE_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        errors.general.append(staff_session.CSRF_REFUSED)
        return _sign_in_form(request, next, username=username, errors=errors, status=403)
    if not username.strip():
        errors.by_field["username"] = "请输入用户名"
    if not password:
        errors.by_field["password"] = "请输入密码"
    if errors:
        return _sign_in_form(request, next, username=username, errors=errors, status=422)
    try:
        opened = await run_in_threadpool(sessions.sign_in_staff, ctx, username, password, _address(request))
    except LedgerError as error:
        errors.add(error, fields=("password",))
        return _sign_in_form(request, next, username=username, errors=errors, status=error.status)
    response = redirect(safe_next(next))
    hours = int(ctx.options.get("console_session_hours") or sessions.SESSION_HOURS)
    staff_session.set_session_cookie(response, request, opened["token"], max_age=hours * 3600)
    response.delete_cookie(staff_session.PRE_COOKIE, path="/")
    return response


@router.post("/signout")
def sign_out(request: Request, ctx: CtxDep, staff: StaffForm):
    """End the session (the row is revoked, the cookie cleared)."""
    sessions.sign_out(ctx, staff_session.session_token(request))
    response = redirect("/")
    staff_session.clear_session_cookie(response, request)
    return response


@router.get("/account/password")
def password_form(request: Request, staff: StaffDep):
    return page(request, "console/password.html", staff, active="password")


@router.post("/account/password")
def change_password(request: Request, ctx: CtxDep, staff: StaffForm,
                    current_password: Annotated[str, Form(max_length=200)] = "",
                    new_password: Annotated[str, Form(max_length=200)] = "",
                    new_password_again: Annotated[str, Form(max_length=200)] = ""):
    """Change one's own password; every other session of the user ends."""
    errors = FormErrors()
    if new_password != new_password_again:
        errors.by_field["new_password_again"] = "两次输入的新密码不一致"
    else:
        try:
            sessions.change_password(ctx, staff.identity, current_password, new_password)
        except LedgerError as error:
            errors.add(error, fields=("current_password", "new_password"))
    if errors:
        return page(request, "console/password.html", staff, active="password", errors=errors, status=422)
    return page(request, "console/password.html", staff, active="password", done=True)
