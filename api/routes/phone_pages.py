"""Phone pages of the service loop (server-rendered, no script): the resident's order and
评单 pages, joining from the phone (实名注册), and the volunteer's page (sign up, scan to sign
in and out, points shown as points, a large-text mode).

Each form carries the CSRF token and an idempotency key made when the form was drawn, so a
double tap posts once.  Errors are shown on the page in Chinese; nothing is written then.
"""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse

from api.pagekit import LARGE_COOKIE, VOLUNTEER_COOKIE, check_csrf, error_text, redirect, render, set_volunteer
from ledger.errors import LedgerError, Unauthenticated, ValidationFailed
from ledger.people import applications, auth, signin
from ledger.people.challenge import issue_challenge
from ledger.people.volunteers import keyed_hash_or_none
from ledger.service import checkin, order_feedback, orders, signup
from ledger.service.order_rules import rating_token
from ledger.store.usecase import read, write, write_once
from ledger.volunteer_view import selfservice

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
PHONE_SESSION_DAYS = 180


@router.get("/static/loop.css")
def stylesheet() -> FileResponse:
    return FileResponse(STATIC / "loop.css", media_type="text/css; charset=utf-8")


@router.get("/text-size")
def text_size(request: Request, large: int = 0, back: str = "/phone"):
    """大字模式 on or off for this phone (a preference, kept in a cookie)."""
    target = back if back.startswith("/") and not back.startswith("//") else "/phone"
    response = redirect(request, target)
    response.set_cookie(LARGE_COOKIE, "1" if large else "0", max_age=365 * 86400, samesite="lax")
    return response


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _key() -> str:
    return "page-" + secrets.token_urlsafe(16)


# --- the resident: 点单 and 评单 ------------------------------------------------------------

def _order_form(request: Request, ctx, form: dict | None = None, error: str | None = None, status: int = 200):
    units = read(ctx, orders.public_units)
    form = form or {}
    unit_id = _int(form.get("unit_id")) or (units[0]["id"] if units else None)
    kinds = read(ctx, lambda s: orders.kinds_at(s, unit_id, ctx.today())) if unit_id else []
    return render(request, "loop/order_form.html", status, title="群众点单", units=units, kinds=kinds,
                  form={**form, "unit_id": unit_id}, challenge=issue_challenge(ctx.secret_key, ctx.now()),
                  key=_key(), error=error, back="/order")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@router.get("/order")
def order_page(request: Request, unit_id: int | None = None):
    return _order_form(request, request.app.state.ctx, {"unit_id": unit_id} if unit_id else None)


@router.post("/order")
def submit_order(request: Request, csrf: str = Form(""), key: str = Form(""), challenge: str = Form(""),
                 answer: str = Form(""), unit_id: str = Form(""), kind: str = Form(""), title: str = Form(""),
                 detail: str = Form(""), place: str = Form(""), day: str = Form(""), time: str = Form(""),
                 contact_name: str = Form(""), phone: str = Form("")):
    ctx = request.app.state.ctx
    form = {"unit_id": unit_id, "kind": kind, "title": title, "detail": detail, "place": place, "day": day,
            "time": time, "contact_name": contact_name, "phone": phone}
    try:
        check_csrf(request, {"csrf": csrf})
        wanted_at = _when(day, time)
        command = orders.SubmitOrder(unit_id=_int(unit_id) or 0, kind=kind, title=title, place=place,
                                     wanted_at=wanted_at, contact_name=contact_name, phone=phone, detail=detail)
        fingerprint = {**form, "phone": keyed_hash_or_none(ctx.secret_key, phone)}
        order, _replayed = write(ctx, key=key, operation="order.submit.page", request=fingerprint,
                                 fn=lambda s: orders.submit_order(
                                     s, ctx.secret_key, command, now=ctx.now(), client_address=_address(request),
                                     challenge=challenge, answer=answer,
                                     per_address=int(ctx.options.get("orders_per_address_per_hour")
                                                     or orders.PER_ADDRESS_PER_HOUR)))
    except LedgerError as refused:
        return _order_form(request, ctx, form, error_text(refused), refused.status)
    token = rating_token(ctx.secret_key, order["id"])
    return redirect(request, f"/order/{order['id']}?t={token}&new=1")


def _when(day: str, time: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(f"{day}T{time}")
    except ValueError:
        raise ValidationFailed("请填写服务日期和时间 (the date and time are missing)", field="wanted_at") from None


def _order_status(request: Request, order_id: int, token: str, *, is_new: bool = False, error: str | None = None,
                  notice: str | None = None, status: int = 200):
    ctx = request.app.state.ctx
    try:
        order = read(ctx, lambda s: order_feedback.resident_view(s, ctx.secret_key, order_id, token))
    except LedgerError as refused:
        return render(request, "loop/message.html", 403, title="我的点单", error=error_text(refused), back="/order")
    link = f"{str(request.base_url).rstrip('/')}/order/{order_id}?t={token}"
    return render(request, "loop/order_status.html", status, title="我的点单", order=order, token=token,
                  link=link, is_new=is_new, key=_key(), error=error, notice=notice,
                  back=f"/order/{order_id}?t={token}")


@router.get("/order/{order_id}")
def order_status(request: Request, order_id: int, t: str = Query("", max_length=100), new: int = 0):
    return _order_status(request, order_id, t, is_new=bool(new))


@router.post("/order/{order_id}/rating")
def rate(request: Request, order_id: int, csrf: str = Form(""), t: str = Form(""), key: str = Form(""),
         rating: int = Form(0), comment: str = Form("")):
    ctx = request.app.state.ctx
    try:
        check_csrf(request, {"csrf": csrf})
        write(ctx, key=key, operation="order.rate.page",
              request={"order_id": order_id, "rating": rating, "comment": comment,
                       "token": keyed_hash_or_none(ctx.secret_key, t)},
              fn=lambda s: order_feedback.rate_order(s, ctx.secret_key, order_id, t, rating, comment, ctx.now(),
                                                     ctx.today()))
    except LedgerError as refused:
        return _order_status(request, order_id, t, error=error_text(refused), status=refused.status)
    return _order_status(request, order_id, t, notice="谢谢您的评价！")


@router.post("/order/{order_id}/complaint")
def complain(request: Request, order_id: int, csrf: str = Form(""), t: str = Form(""), key: str = Form(""),
             text: str = Form("")):
    ctx = request.app.state.ctx
    try:
        check_csrf(request, {"csrf": csrf})
        write(ctx, key=key, operation="order.complain.page",
              request={"order_id": order_id, "text": text, "token": keyed_hash_or_none(ctx.secret_key, t)},
              fn=lambda s: order_feedback.complain(s, ctx.secret_key, order_id, t, text, ctx.now()))
    except LedgerError as refused:
        return _order_status(request, order_id, t, error=error_text(refused), status=refused.status)
    return _order_status(request, order_id, t, notice="投诉已收到，中心会尽快核实处理。")


# --- joining from the phone (实名注册) ------------------------------------------------------

def _join_form(request: Request, ctx, form: dict | None = None, error: str | None = None, done=None,
               status: int = 200):
    return render(request, "loop/join.html", status, title="实名注册", units=read(ctx, orders.public_units),
                  form=form or {}, challenge=issue_challenge(ctx.secret_key, ctx.now()), key=_key(),
                  error=error, done=done, back="/join")


@router.get("/join")
def join_page(request: Request):
    return _join_form(request, request.app.state.ctx)


@router.post("/join")
def join(request: Request, csrf: str = Form(""), key: str = Form(""), challenge: str = Form(""),
         answer: str = Form(""), unit_id: str = Form(""), name: str = Form(""), id_number: str = Form(""),
         phone: str = Form("")):
    ctx = request.app.state.ctx
    form = {"unit_id": _int(unit_id), "name": name, "phone": phone}
    try:
        check_csrf(request, {"csrf": csrf})
        command = applications.Apply(unit_id=_int(unit_id) or 0, name=name, id_number=id_number,
                                     phone=phone or None)
        done, _replayed = write(ctx, key=key, operation="application.create.page",
                                request={**form, "id_number": keyed_hash_or_none(ctx.secret_key, id_number),
                                         "phone": keyed_hash_or_none(ctx.secret_key, phone)},
                                fn=lambda s: applications.apply(
                                    s, ctx.secret_key, command, now=ctx.now(), today=ctx.today(),
                                    client_address=_address(request), challenge=challenge, answer=answer,
                                    per_address=int(ctx.options.get("applications_per_address_per_hour")
                                                    or applications.PER_ADDRESS_PER_HOUR)))
    except LedgerError as refused:
        return _join_form(request, ctx, form, error_text(refused), status=refused.status)
    return _join_form(request, ctx, done=done)


# --- the volunteer's phone ------------------------------------------------------------------

def _volunteer(request: Request):
    """The signed-in volunteer's principal, or None (an expired or revoked token is None too)."""
    token = request.cookies.get(VOLUNTEER_COOKIE)
    if not token:
        return None
    ctx = request.app.state.ctx
    try:
        principal = auth.authenticate(ctx.engine, token, ctx.now())
    except Unauthenticated:
        return None
    return principal if principal.role == "volunteer" else None


def _sign_in_page(request: Request, next_url: str = "/phone", error: str | None = None, status: int = 200):
    return render(request, "loop/phone_sign_in.html", status, title="我的志愿服务", next=next_url, error=error)


def _phone(request: Request, user, *, error: str | None = None, notice: str | None = None, code: str = "",
           status: int = 200):
    ctx = request.app.state.ctx
    me = read(ctx, lambda s: selfservice.summary(s, user, user.volunteer_id, ctx.today()))
    open_items = read(ctx, lambda s: signup.open_recruitments(s, user, ctx.now(), ctx.today()))
    return render(request, "loop/phone.html", status, title="我的志愿服务", me=me, recruitments=open_items,
                  key=_key(), error=error, notice=notice, code=code)


@router.get("/phone")
def phone_page(request: Request):
    user = _volunteer(request)
    return _phone(request, user) if user else _sign_in_page(request)


@router.post("/phone/sign-in")
def phone_sign_in(request: Request, csrf: str = Form(""), number: str = Form(""), code: str = Form(""),
                  next: str = Form("/phone")):
    ctx = request.app.state.ctx
    target = next if next.startswith("/") and not next.startswith("//") else "/phone"
    try:
        check_csrf(request, {"csrf": csrf})
        session = signin.sign_in(ctx, number.strip(), code.strip(), _address(request) or "unknown",
                                 device_ttl=dt.timedelta(days=PHONE_SESSION_DAYS))
    except LedgerError as refused:
        return _sign_in_page(request, target, error_text(refused), status=refused.status)
    response = redirect(request, target)
    set_volunteer(response, request, session["token"], max_age=PHONE_SESSION_DAYS * 86400)
    return response


@router.post("/phone/sign-out")
def phone_sign_out(request: Request, csrf: str = Form("")):
    ctx = request.app.state.ctx
    try:
        check_csrf(request, {"csrf": csrf})
    except LedgerError as refused:
        return render(request, "loop/message.html", 403, title="我的志愿服务", error=error_text(refused))
    token = request.cookies.get(VOLUNTEER_COOKIE)
    if token:
        write_once(ctx, lambda s: auth.revoke_token(s, token))
    response = redirect(request, "/phone")
    response.delete_cookie(VOLUNTEER_COOKIE)
    return response


def _volunteer_write(request: Request, csrf: str, key: str, operation: str, body: dict, fn, notice: str,
                     code: str = ""):
    ctx = request.app.state.ctx
    user = _volunteer(request)
    if user is None:
        return _sign_in_page(request, error="请先登录", status=401)
    try:
        check_csrf(request, {"csrf": csrf})
        result, _replayed = write(ctx, key=key, operation=operation, request={**body, "volunteer": user.volunteer_id},
                                  fn=lambda s: fn(s, user))
    except LedgerError as refused:
        return _phone(request, user, error=error_text(refused), code=code, status=refused.status)
    return _phone(request, user, notice=notice(result) if callable(notice) else notice)


@router.post("/phone/signup")
def phone_sign_up(request: Request, csrf: str = Form(""), key: str = Form(""), activity_id: int = Form(0)):
    ctx = request.app.state.ctx
    return _volunteer_write(request, csrf, key, "signup.create.page", {"activity_id": activity_id},
                            lambda s, user: signup.sign_up(s, user, activity_id, ctx.now(), ctx.today()),
                            "报名成功！请按时参加活动，到场后扫码签到。")


@router.post("/phone/signup/cancel")
def phone_cancel(request: Request, csrf: str = Form(""), key: str = Form(""), activity_id: int = Form(0)):
    ctx = request.app.state.ctx
    return _volunteer_write(request, csrf, key, "signup.cancel.page", {"activity_id": activity_id},
                            lambda s, user: signup.cancel_signup(s, user, activity_id, ctx.now()), "已取消报名。")


def _scanned(result: dict) -> str:
    if result["direction"] == "in":
        return f"签到成功（{result['at'][11:16]}）。活动结束时请再扫码签退。"
    if result.get("record"):
        minutes = result["record"]["minutes"]
        return f"签退成功！本次服务 {minutes // 60} 小时 {minutes % 60} 分钟，待站点审核后计入时长和积分。"
    return "签退已记录，但时间有疑问，已交站点核实，暂不计入。"


@router.post("/phone/scan")
def phone_scan(request: Request, csrf: str = Form(""), key: str = Form(""), code: str = Form(""),
               direction: str = Form("")):
    ctx = request.app.state.ctx
    return _volunteer_write(request, csrf, key, "checkin.scan.page", {"code": code, "direction": direction},
                            lambda s, user: checkin.scan(s, user, ctx.secret_key, code, direction, ctx.now(),
                                                         ctx.local_now()), _scanned, code=code)


@router.get("/checkin")
def checkin_page(request: Request, a: int = 0, w: int = 0, c: str = Query("", max_length=40)):
    """Where the activity's QR code points: sign in first if needed, then 签到 or 签退."""
    here = f"/checkin?a={a}&w={w}&c={quote(c)}"
    user = _volunteer(request)
    if user is None:
        return _sign_in_page(request, here)
    ctx = request.app.state.ctx
    title = read(ctx, lambda s: checkin.activity_title(s, a)) or "活动签到"
    return render(request, "loop/checkin.html", title="签到签退", activity_title=title, code=here, key=_key(),
                  back=here)
