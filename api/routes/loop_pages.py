"""The organiser's pages of the service loop (staff, server-rendered, no script): the queue of
each role (待派单, 待接单, 待完成, 投诉) with its actions, an activity's recruitment, sign-up
list (printable), rotating QR code, attendance and flags, the applications to confirm, and
the report.

Staff sign in here with their API token (the console's name-and-password session is the
other way in); it is kept in an HttpOnly cookie and checked on every request like a bearer
token.  Every form carries the CSRF token; every id is checked by the use case it reaches.
"""
from __future__ import annotations

import datetime as dt
import secrets

from fastapi import APIRouter, Form, Query, Request, Response

from api.pagekit import check_csrf, error_text, qr_svg, redirect, render, secure
from ledger.errors import LedgerError, Unauthenticated, ValidationFailed
from ledger.people import applications, auth, org
from ledger.people.volunteers import keyed_hash_or_none
from ledger.service import checkin, order_feedback, order_reports, orders, records as service_records, signup
from ledger.service.order_rules import rating_token
from ledger.store.usecase import read, write

router = APIRouter(include_in_schema=False)
STAFF_COOKIE = "loop_staff"
QUEUES = (("dispatch", "待派单"), ("take", "待接单"), ("complete", "待完成"), ("complaints", "投诉"), ("all", "全部"))


def _staff(request: Request):
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        return None
    ctx = request.app.state.ctx
    try:
        principal = auth.authenticate(ctx.engine, token, ctx.now())
    except Unauthenticated:
        return None
    return principal if principal.role in ("admin", "unit_admin", "auditor") else None


def _sign_in(request: Request, next_url: str, error: str | None = None, status: int = 200):
    return render(request, "loop/staff_sign_in.html", status, title="志愿服务工作台", next=next_url, error=error,
                  wide=True)


@router.post("/loop/sign-in")
def sign_in(request: Request, csrf: str = Form(""), token: str = Form(""), next: str = Form("/loop")):
    target = next if next.startswith("/loop") else "/loop"
    try:
        check_csrf(request, {"csrf": csrf})
        ctx = request.app.state.ctx
        auth.authenticate(ctx.engine, token.strip(), ctx.now())
    except LedgerError as refused:
        return _sign_in(request, target, error_text(refused), refused.status)
    response = redirect(request, target)
    response.set_cookie(STAFF_COOKIE, token.strip(), max_age=12 * 3600, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.post("/loop/sign-out")
def sign_out(request: Request, csrf: str = Form("")):
    try:
        check_csrf(request, {"csrf": csrf})
    except LedgerError as refused:
        return _sign_in(request, "/loop", error_text(refused), 403)
    response = redirect(request, "/loop")
    response.delete_cookie(STAFF_COOKIE)
    return response


def _page(request: Request, template: str, staff, status: int = 200, **values):
    return render(request, template, status, staff=staff, wide=True, key="page-" + secrets.token_urlsafe(16),
                  back=str(request.url.path), **values)


def _queues(request: Request, staff, queue: str, error: str | None = None, notice: str | None = None,
            status: int = 200):
    ctx = request.app.state.ctx
    items = read(ctx, lambda s: orders.list_orders(s, staff, queue))
    teams = read(ctx, lambda s: org.list_teams(s, staff)) if queue == "dispatch" else []
    units = read(ctx, lambda s: org.list_units(s, staff)) if queue == "dispatch" else []
    names = {u["id"]: u["name"] for u in read(ctx, orders.public_units)}
    default_deadline = (ctx.local_now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    return _page(request, "loop/queues.html", staff, status, title="点单派单 · 工作台", queues=QUEUES, queue=queue,
                 items=items, teams=teams, units=units, names=names, default_deadline=default_deadline,
                 error=error, notice=notice)


@router.get("/loop")
def queues(request: Request, queue: str = Query("dispatch", max_length=20)):
    staff = _staff(request)
    if staff is None:
        return _sign_in(request, str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    try:
        return _queues(request, staff, queue)
    except LedgerError as refused:
        return _queues(request, staff, "all", error_text(refused), status=422)


def _act(request: Request, csrf: str, key: str, operation: str, body: dict, fn, done, back: str = "dispatch"):
    """Run one staff action from a form; re-draw the page with the outcome."""
    staff = _staff(request)
    if staff is None:
        return _sign_in(request, "/loop", "请先登录", 401)
    ctx = request.app.state.ctx
    try:
        check_csrf(request, {"csrf": csrf})
        write(ctx, key=key, operation=operation, request=body, fn=lambda s: fn(s, staff))
    except LedgerError as refused:
        return done(request, staff, error=error_text(refused), status=refused.status)
    return done(request, staff, notice="已完成。")


def _back_to(queue: str):
    return lambda request, staff, **outcome: _queues(request, staff, queue, **outcome)


def _deadline(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("请填写接单期限 (the deadline is missing)", field="deadline") from None


@router.post("/loop/orders/{order_id}/dispatch")
def dispatch(request: Request, order_id: int, csrf: str = Form(""), key: str = Form(""),
             target: str = Form(""), deadline: str = Form("")):
    """派单: `target` is team:ID or unit:ID."""
    ctx = request.app.state.ctx
    kind, _, ident = target.partition(":")
    ids = {"team_id": int(ident)} if kind == "team" and ident.isdigit() else \
        {"unit_id": int(ident)} if kind == "unit" and ident.isdigit() else {}
    return _act(request, csrf, key, "order.dispatch.page", {"order_id": order_id, "target": target,
                                                            "deadline": deadline},
                lambda s, staff: orders.dispatch_order(s, staff, order_id, orders.DispatchOrder(
                    deadline=_deadline(deadline), **ids), ctx.now()), _back_to("dispatch"))


@router.post("/loop/orders/{order_id}/take")
def take(request: Request, order_id: int, csrf: str = Form(""), key: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, csrf, key, "order.take.page", {"order_id": order_id},
                lambda s, staff: orders.take_order(s, staff, order_id, orders.TakeOrder(), ctx.now()),
                _back_to("take"))


@router.post("/loop/orders/{order_id}/decline")
def decline(request: Request, order_id: int, csrf: str = Form(""), key: str = Form(""), reason: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, csrf, key, "order.decline.page", {"order_id": order_id, "reason": reason},
                lambda s, staff: orders.decline_order(s, staff, order_id, reason, ctx.now()), _back_to("take"))


@router.post("/loop/orders/{order_id}/complete")
def complete(request: Request, order_id: int, csrf: str = Form(""), key: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, csrf, key, "order.complete.page", {"order_id": order_id},
                lambda s, staff: orders.complete_order(s, staff, order_id, ctx.now()), _back_to("complete"))


@router.post("/loop/orders/{order_id}/resolve")
def resolve(request: Request, order_id: int, csrf: str = Form(""), key: str = Form(""), upheld: str = Form(""),
            note: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, csrf, key, "order.resolve.page", {"order_id": order_id, "upheld": upheld, "note": note},
                lambda s, staff: order_feedback.resolve_complaint(s, staff, order_id, upheld == "yes", note,
                                                                  ctx.now(), ctx.today()), _back_to("complaints"))


def _order_for_resident(request: Request, staff, form: dict | None = None, error: str | None = None,
                        link: str | None = None, status: int = 200):
    ctx = request.app.state.ctx
    units = [u for u in read(ctx, lambda s: org.list_units(s, staff)) if u["kind"] in ("station", "point")]
    form = form or {}
    unit_id = int(form["unit_id"]) if str(form.get("unit_id", "")).isdigit() else (units[0]["id"] if units else None)
    kinds = read(ctx, lambda s: orders.kinds_at(s, unit_id, ctx.today())) if unit_id else []
    return render(request, "loop/order_form.html", status, title="代群众点单", heading="代群众点单",
                  action="/loop/orders", units=units, kinds=kinds, form={**form, "unit_id": unit_id},
                  challenge=None, key="page-" + secrets.token_urlsafe(16), error=error, link=link, back="/loop")


@router.get("/loop/orders/new")
def order_for_resident_page(request: Request):
    staff = _staff(request)
    return _order_for_resident(request, staff) if staff else _sign_in(request, "/loop/orders/new")


@router.post("/loop/orders")
def order_for_resident(request: Request, csrf: str = Form(""), key: str = Form(""), unit_id: str = Form(""),
                       kind: str = Form(""), title: str = Form(""), detail: str = Form(""), place: str = Form(""),
                       day: str = Form(""), time: str = Form(""), contact_name: str = Form(""),
                       phone: str = Form("")):
    """点单 by a station admin for a resident who called or came in (no challenge; in scope)."""
    staff = _staff(request)
    if staff is None:
        return _sign_in(request, "/loop/orders/new", "请先登录", 401)
    ctx = request.app.state.ctx
    form = {"unit_id": unit_id, "kind": kind, "title": title, "detail": detail, "place": place, "day": day,
            "time": time, "contact_name": contact_name, "phone": phone}
    try:
        check_csrf(request, {"csrf": csrf})
        command = orders.SubmitOrder(unit_id=int(unit_id) if unit_id.isdigit() else 0, kind=kind, title=title,
                                     place=place, wanted_at=_deadline(f"{day}T{time}"), contact_name=contact_name,
                                     phone=phone, detail=detail)
        made, _replayed = write(ctx, key=key, operation="order.submit.staff.page",
                                request={**form, "phone": keyed_hash_or_none(ctx.secret_key, phone)},
                                fn=lambda s: orders.submit_order(s, ctx.secret_key, command, now=ctx.now(),
                                                                 principal=staff))
    except LedgerError as refused:
        return _order_for_resident(request, staff, form, error_text(refused), status=refused.status)
    token = rating_token(ctx.secret_key, made["id"])
    return _order_for_resident(request, staff, link=f"{str(request.base_url).rstrip('/')}/order/{made['id']}?t={token}")


# --- an activity: recruitment, sign-ups, the code, attendance -------------------------------

def _activity(request: Request, staff, activity_id: int, error: str | None = None, notice: str | None = None,
              status: int = 200):
    ctx = request.app.state.ctx
    try:
        listed = read(ctx, lambda s: signup.list_signups(s, staff, activity_id))
    except LedgerError as missing:
        if missing.code != "not_found" or "报名" not in missing.message:
            raise
        listed = None
    seen = read(ctx, lambda s: checkin.attendance(s, staff, activity_id))
    default_deadline = (ctx.local_now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    return _page(request, "loop/activity.html", staff, status, title="活动 · 招募与签到", activity_id=activity_id,
                 listed=listed, seen=seen, default_deadline=default_deadline,
                 now_local=ctx.local_now().strftime("%Y-%m-%dT%H:%M"), error=error, notice=notice)


@router.get("/loop/activities/{activity_id}")
def activity_page(request: Request, activity_id: int):
    staff = _staff(request)
    if staff is None:
        return _sign_in(request, f"/loop/activities/{activity_id}")
    try:
        return _activity(request, staff, activity_id)
    except LedgerError as refused:
        return _page(request, "loop/message.html", staff, 404, title="活动", error=error_text(refused))


def _back_to_activity(activity_id: int):
    return lambda request, staff, **outcome: _activity(request, staff, activity_id, **outcome)


@router.post("/loop/activities/{activity_id}/recruitment")
def publish(request: Request, activity_id: int, csrf: str = Form(""), key: str = Form(""), quota: int = Form(0),
            deadline: str = Form(""), requires_signup: str = Form("")):
    ctx = request.app.state.ctx
    body = {"activity_id": activity_id, "quota": quota, "deadline": deadline, "requires_signup": requires_signup}
    return _act(request, csrf, key, "recruitment.publish.page", body,
                lambda s, staff: signup.publish_recruitment(s, staff, activity_id, signup.PublishRecruitment(
                    quota=quota, deadline=_deadline(deadline), requires_signup=requires_signup == "yes"),
                    ctx.now()), _back_to_activity(activity_id))


@router.post("/loop/activities/{activity_id}/attendance")
def by_hand(request: Request, activity_id: int, csrf: str = Form(""), key: str = Form(""),
            volunteer_id: int = Form(0), direction: str = Form(""), at: str = Form("")):
    ctx = request.app.state.ctx
    body = {"activity_id": activity_id, "volunteer_id": volunteer_id, "direction": direction, "at": at}
    return _act(request, csrf, key, "checkin.manual.page", body,
                lambda s, staff: checkin.sign_by_hand(s, staff, activity_id, volunteer_id, direction,
                                                      _deadline(at) if at else None, ctx.now(), ctx.local_now()),
                _back_to_activity(activity_id))


@router.post("/loop/activities/{activity_id}/flags/{flag_id}/resolve")
def resolve_flag(request: Request, activity_id: int, flag_id: int, csrf: str = Form(""), key: str = Form(""),
                 note: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, csrf, key, "checkin.flag.resolve.page", {"flag_id": flag_id, "note": note},
                lambda s, staff: checkin.resolve_flag(s, staff, activity_id, flag_id, note, ctx.now()),
                _back_to_activity(activity_id))


@router.post("/loop/records/{record_id}/approve")
def approve(request: Request, record_id: int, csrf: str = Form(""), key: str = Form(""), activity_id: int = Form(0)):
    """审核通过 a record the scans proposed: by someone other than the organiser who recorded it."""
    return _act(request, csrf, key, "record.approve.page", {"record_id": record_id},
                lambda s, staff: service_records.record_public(service_records.approve_record(s, staff, record_id)),
                _back_to_activity(activity_id))


@router.get("/loop/activities/{activity_id}/qr")
def qr_page(request: Request, activity_id: int):
    """The code to show at the activity, full screen; the page reloads itself as the code rotates."""
    staff = _staff(request)
    if staff is None:
        return _sign_in(request, f"/loop/activities/{activity_id}/qr")
    ctx = request.app.state.ctx
    try:
        current = read(ctx, lambda s: checkin.activity_code(s, staff, ctx.secret_key, activity_id, ctx.now()))
    except LedgerError as refused:
        return _page(request, "loop/message.html", staff, 404, title="签到二维码", error=error_text(refused))
    title = read(ctx, lambda s: checkin.activity_title(s, activity_id))
    return _page(request, "loop/qr.html", staff, title="签到二维码", activity_id=activity_id, activity_title=title,
                 url=str(request.base_url).rstrip("/") + current["path"], refresh=20, stamp=current["rotates_at"])


@router.get("/loop/activities/{activity_id}/qr.svg")
def qr_image(request: Request, activity_id: int):
    staff = _staff(request)
    if staff is None:
        return secure(Response(status_code=401), request)
    ctx = request.app.state.ctx
    try:
        current = read(ctx, lambda s: checkin.activity_code(s, staff, ctx.secret_key, activity_id, ctx.now()))
    except LedgerError:
        return secure(Response(status_code=404), request)
    return secure(Response(qr_svg(str(request.base_url).rstrip("/") + current["path"]),
                           media_type="image/svg+xml"), request)


# --- applications and the report ------------------------------------------------------------

def _applications(request: Request, staff, error: str | None = None, notice: str | None = None, status: int = 200):
    ctx = request.app.state.ctx
    items = read(ctx, lambda s: applications.list_applications(s, staff, "pending"))
    names = {u["id"]: u["name"] for u in read(ctx, orders.public_units)}
    return _page(request, "loop/applications.html", staff, status, title="实名注册 · 待确认", items=items,
                 names=names, error=error, notice=notice)


@router.get("/loop/applications")
def applications_page(request: Request):
    staff = _staff(request)
    return _applications(request, staff) if staff else _sign_in(request, "/loop/applications")


@router.post("/loop/applications/{application_id}/confirm")
def confirm(request: Request, application_id: int, csrf: str = Form(""), key: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, csrf, key, "application.confirm.page", {"id": application_id},
                lambda s, staff: applications.confirm(s, staff, application_id, ctx.now(), ctx.today()),
                _applications)


@router.post("/loop/applications/{application_id}/refuse")
def refuse(request: Request, application_id: int, csrf: str = Form(""), key: str = Form(""),
           reason: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, csrf, key, "application.refuse.page", {"id": application_id, "reason": reason},
                lambda s, staff: applications.refuse(s, staff, application_id, reason, ctx.now()), _applications)


@router.get("/loop/report")
def report_page(request: Request, unit_id: int | None = None, date_from: str = "", date_to: str = ""):
    staff = _staff(request)
    if staff is None:
        return _sign_in(request, "/loop/report")
    ctx = request.app.state.ctx
    units = read(ctx, lambda s: org.list_units(s, staff))
    today = ctx.today()
    start, end = date_from or today.replace(day=1).isoformat(), date_to or today.isoformat()
    report, error = None, None
    chosen = unit_id or (units[0]["id"] if units else None)
    try:
        if chosen is not None:
            report = read(ctx, lambda s: order_reports.order_report(
                s, staff, chosen, dt.date.fromisoformat(start), dt.date.fromisoformat(end)))
    except (LedgerError, ValueError) as refused:
        error = error_text(refused) if isinstance(refused, LedgerError) else "日期格式不正确"
    return _page(request, "loop/report.html", staff, title="点单统计", units=units, chosen=chosen,
                 date_from=start, date_to=end, report=report, error=error)
