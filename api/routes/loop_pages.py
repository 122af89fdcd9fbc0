"""The organiser's pages of the service loop (staff, server-rendered, no script): the queue of
each role (待派单, 待接单, 待完成, 投诉) with its actions, an activity's recruitment, sign-up
list (printable), rotating QR code, attendance and flags, the applications to confirm, and
the report.

Staff are signed in by the console's session (api.console.web: `StaffDep` for a page, `StaffForm`
for a form, which checks the session-bound CSRF token); without a session a page answers with
the console's sign-in form.  Every id is checked by the use case it reaches.
"""
from __future__ import annotations

import datetime as dt
import secrets

from fastapi import APIRouter, Form, Query, Request, Response

from api.console import menu
from api.console.web import Staff, StaffDep, StaffForm, require_page
from api.pagekit import error_text, qr_svg, render, secure
from ledger.errors import LedgerError, ValidationFailed
from ledger.people import applications, org
from ledger.people.volunteers import keyed_hash_or_none
from ledger.service import checkin, order_feedback, order_reports, orders, records as service_records, signup
from ledger.service.order_rules import rating_token
from ledger.store.usecase import read, write

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("loop", "点单派单与签到", "/loop", ("admin", "unit_admin", "auditor"), order=30))
QUEUES = (("dispatch", "待派单"), ("take", "待接单"), ("complete", "待完成"), ("complaints", "投诉"), ("all", "全部"))


def _page(request: Request, template: str, staff: Staff, status: int = 200, **values):
    """A page of ours in the console's session: the staff member's principal and CSRF token."""
    return render(request, template, status, csrf=staff.csrf, staff=staff.principal, wide=True,
                  key="page-" + secrets.token_urlsafe(16), back=str(request.url.path), **values)


def _queues(request: Request, staff, queue: str, error: str | None = None, notice: str | None = None,
            status: int = 200):
    ctx = request.app.state.ctx
    items = read(ctx, lambda s: orders.list_orders(s, staff.principal, queue))
    teams = read(ctx, lambda s: org.list_teams(s, staff.principal)) if queue == "dispatch" else []
    units = read(ctx, lambda s: org.list_units(s, staff.principal)) if queue == "dispatch" else []
    names = {u["id"]: u["name"] for u in read(ctx, orders.public_units)}
    default_deadline = (ctx.local_now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    return _page(request, "loop/queues.html", staff, status, title="点单派单 · 工作台", queues=QUEUES, queue=queue,
                 items=items, teams=teams, units=units, names=names, default_deadline=default_deadline,
                 error=error, notice=notice)


@router.get("/loop")
def queues(request: Request, staff: StaffDep, queue: str = Query("dispatch", max_length=20)):
    require_page(staff, "loop")
    try:
        return _queues(request, staff, queue)
    except LedgerError as refused:
        return _queues(request, staff, "all", error_text(refused), status=422)


def _act(request: Request, staff: Staff, key: str, operation: str, body: dict, fn, done):
    """Run one staff action from a form (its CSRF token checked by `StaffForm`); re-draw the page."""
    require_page(staff, "loop")
    ctx = request.app.state.ctx
    try:
        write(ctx, key=key, operation=operation, request=body, fn=lambda s: fn(s, staff.principal))
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
def dispatch(request: Request, order_id: int, staff: StaffForm, key: str = Form(""),
             target: str = Form(""), deadline: str = Form("")):
    """派单: `target` is team:ID or unit:ID."""
    ctx = request.app.state.ctx
    kind, _, ident = target.partition(":")
    ids = {"team_id": int(ident)} if kind == "team" and ident.isdigit() else \
        {"unit_id": int(ident)} if kind == "unit" and ident.isdigit() else {}
    return _act(request, staff, key, "order.dispatch.page", {"order_id": order_id, "target": target,
                                                            "deadline": deadline},
                lambda s, principal: orders.dispatch_order(s, principal, order_id, orders.DispatchOrder(
                    deadline=_deadline(deadline), **ids), ctx.now()), _back_to("dispatch"))


@router.post("/loop/orders/{order_id}/take")
def take(request: Request, order_id: int, staff: StaffForm, key: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, staff, key, "order.take.page", {"order_id": order_id},
                lambda s, principal: orders.take_order(s, principal, order_id, orders.TakeOrder(), ctx.now()),
                _back_to("take"))


@router.post("/loop/orders/{order_id}/decline")
def decline(request: Request, order_id: int, staff: StaffForm, key: str = Form(""), reason: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, staff, key, "order.decline.page", {"order_id": order_id, "reason": reason},
                lambda s, principal: orders.decline_order(s, principal, order_id, reason, ctx.now()), _back_to("take"))


@router.post("/loop/orders/{order_id}/complete")
def complete(request: Request, order_id: int, staff: StaffForm, key: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, staff, key, "order.complete.page", {"order_id": order_id},
                lambda s, principal: orders.complete_order(s, principal, order_id, ctx.now()), _back_to("complete"))


@router.post("/loop/orders/{order_id}/resolve")
def resolve(request: Request, order_id: int, staff: StaffForm, key: str = Form(""), upheld: str = Form(""),
            note: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, staff, key, "order.resolve.page", {"order_id": order_id, "upheld": upheld, "note": note},
                lambda s, principal: order_feedback.resolve_complaint(s, principal, order_id, upheld == "yes", note,
                                                                  ctx.now(), ctx.today()), _back_to("complaints"))


def _order_for_resident(request: Request, staff, form: dict | None = None, error: str | None = None,
                        link: str | None = None, status: int = 200):
    ctx = request.app.state.ctx
    units = [u for u in read(ctx, lambda s: org.list_units(s, staff.principal)) if u["kind"] in ("station", "point")]
    form = form or {}
    unit_id = int(form["unit_id"]) if str(form.get("unit_id", "")).isdigit() else (units[0]["id"] if units else None)
    kinds = read(ctx, lambda s: orders.kinds_at(s, unit_id, ctx.today())) if unit_id else []
    return render(request, "loop/order_form.html", status, csrf=staff.csrf, csrf_field="csrf_token",
                  title="代群众点单", heading="代群众点单",
                  action="/loop/orders", units=units, kinds=kinds, form={**form, "unit_id": unit_id},
                  challenge=None, key="page-" + secrets.token_urlsafe(16), error=error, link=link, back="/loop")


@router.get("/loop/orders/new")
def order_for_resident_page(request: Request, staff: StaffDep):
    require_page(staff, "loop")
    return _order_for_resident(request, staff)


@router.post("/loop/orders")
def order_for_resident(request: Request, staff: StaffForm, key: str = Form(""), unit_id: str = Form(""),
                       kind: str = Form(""), title: str = Form(""), detail: str = Form(""), place: str = Form(""),
                       day: str = Form(""), time: str = Form(""), contact_name: str = Form(""),
                       phone: str = Form("")):
    """点单 by a station admin for a resident who called or came in (no challenge; in scope)."""
    require_page(staff, "loop")
    ctx = request.app.state.ctx
    form = {"unit_id": unit_id, "kind": kind, "title": title, "detail": detail, "place": place, "day": day,
            "time": time, "contact_name": contact_name, "phone": phone}
    try:
        command = orders.SubmitOrder(unit_id=int(unit_id) if unit_id.isdigit() else 0, kind=kind, title=title,
                                     place=place, wanted_at=_deadline(f"{day}T{time}"), contact_name=contact_name,
                                     phone=phone, detail=detail)
        made, _replayed = write(ctx, key=key, operation="order.submit.staff.page",
                                request={**form, "phone": keyed_hash_or_none(ctx.secret_key, phone)},
                                fn=lambda s: orders.submit_order(s, ctx.secret_key, command, now=ctx.now(),
                                                                 principal=staff.principal))
    except LedgerError as refused:
        return _order_for_resident(request, staff, form, error_text(refused), status=refused.status)
    token = rating_token(ctx.secret_key, made["id"])
    return _order_for_resident(request, staff, link=f"{str(request.base_url).rstrip('/')}/order/{made['id']}?t={token}")


# --- an activity: recruitment, sign-ups, the code, attendance -------------------------------

def _activity(request: Request, staff, activity_id: int, error: str | None = None, notice: str | None = None,
              status: int = 200):
    ctx = request.app.state.ctx
    try:
        listed = read(ctx, lambda s: signup.list_signups(s, staff.principal, activity_id))
    except LedgerError as missing:
        if missing.code != "not_found" or "报名" not in missing.message:
            raise
        listed = None
    seen = read(ctx, lambda s: checkin.attendance(s, staff.principal, activity_id))
    default_deadline = (ctx.local_now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    return _page(request, "loop/activity.html", staff, status, title="活动 · 招募与签到", activity_id=activity_id,
                 listed=listed, seen=seen, default_deadline=default_deadline,
                 now_local=ctx.local_now().strftime("%Y-%m-%dT%H:%M"), error=error, notice=notice)


@router.get("/loop/activities/{activity_id}")
def activity_page(request: Request, activity_id: int, staff: StaffDep):
    require_page(staff, "loop")
    try:
        return _activity(request, staff, activity_id)
    except LedgerError as refused:
        return _page(request, "loop/message.html", staff, 404, title="活动", error=error_text(refused))


def _back_to_activity(activity_id: int):
    return lambda request, staff, **outcome: _activity(request, staff, activity_id, **outcome)


@router.post("/loop/activities/{activity_id}/recruitment")
def publish(request: Request, activity_id: int, staff: StaffForm, key: str = Form(""), quota: int = Form(0),
            deadline: str = Form(""), requires_signup: str = Form("")):
    ctx = request.app.state.ctx
    body = {"activity_id": activity_id, "quota": quota, "deadline": deadline, "requires_signup": requires_signup}
    return _act(request, staff, key, "recruitment.publish.page", body,
                lambda s, principal: signup.publish_recruitment(s, principal, activity_id, signup.PublishRecruitment(
                    quota=quota, deadline=_deadline(deadline), requires_signup=requires_signup == "yes"),
                    ctx.now()), _back_to_activity(activity_id))


@router.post("/loop/activities/{activity_id}/attendance")
def by_hand(request: Request, activity_id: int, staff: StaffForm, key: str = Form(""),
            volunteer_id: int = Form(0), direction: str = Form(""), at: str = Form("")):
    ctx = request.app.state.ctx
    body = {"activity_id": activity_id, "volunteer_id": volunteer_id, "direction": direction, "at": at}
    return _act(request, staff, key, "checkin.manual.page", body,
                lambda s, principal: checkin.sign_by_hand(s, principal, activity_id, volunteer_id, direction,
                                                      _deadline(at) if at else None, ctx.now(), ctx.local_now()),
                _back_to_activity(activity_id))


@router.post("/loop/activities/{activity_id}/flags/{flag_id}/resolve")
def resolve_flag(request: Request, activity_id: int, flag_id: int, staff: StaffForm, key: str = Form(""),
                 note: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, staff, key, "checkin.flag.resolve.page", {"flag_id": flag_id, "note": note},
                lambda s, principal: checkin.resolve_flag(s, principal, activity_id, flag_id, note, ctx.now()),
                _back_to_activity(activity_id))


@router.post("/loop/records/{record_id}/approve")
def approve(request: Request, record_id: int, staff: StaffForm, key: str = Form(""), activity_id: int = Form(0)):
    """审核通过 a record the scans proposed: by someone other than the organiser who recorded it."""
    return _act(request, staff, key, "record.approve.page", {"record_id": record_id},
                lambda s, principal: service_records.record_public(service_records.approve_record(s, principal, record_id)),
                _back_to_activity(activity_id))


@router.get("/loop/activities/{activity_id}/qr")
def qr_page(request: Request, activity_id: int, staff: StaffDep):
    """The code to show at the activity, full screen; the page reloads itself as the code rotates."""
    require_page(staff, "loop")
    ctx = request.app.state.ctx
    try:
        current = read(ctx, lambda s: checkin.activity_code(s, staff.principal, ctx.secret_key, activity_id, ctx.now()))
    except LedgerError as refused:
        return _page(request, "loop/message.html", staff, 404, title="签到二维码", error=error_text(refused))
    title = read(ctx, lambda s: checkin.activity_title(s, activity_id))
    return _page(request, "loop/qr.html", staff, title="签到二维码", activity_id=activity_id, activity_title=title,
                 url=str(request.base_url).rstrip("/") + current["path"], refresh=20, stamp=current["rotates_at"])


@router.get("/loop/activities/{activity_id}/qr.svg")
def qr_image(request: Request, activity_id: int, staff: StaffDep):
    require_page(staff, "loop")
    ctx = request.app.state.ctx
    try:
        current = read(ctx, lambda s: checkin.activity_code(s, staff.principal, ctx.secret_key, activity_id, ctx.now()))
    except LedgerError:
        return secure(Response(status_code=404), request)
    return secure(Response(qr_svg(str(request.base_url).rstrip("/") + current["path"]),
                           media_type="image/svg+xml"), request)


# --- applications and the report ------------------------------------------------------------

def _applications(request: Request, staff, error: str | None = None, notice: str | None = None, status: int = 200):
    ctx = request.app.state.ctx
    items = read(ctx, lambda s: applications.list_applications(s, staff.principal, "pending"))
    names = {u["id"]: u["name"] for u in read(ctx, orders.public_units)}
    return _page(request, "loop/applications.html", staff, status, title="实名注册 · 待确认", items=items,
                 names=names, error=error, notice=notice)


@router.get("/loop/applications")
def applications_page(request: Request, staff: StaffDep):
    require_page(staff, "loop")
    return _applications(request, staff)


@router.post("/loop/applications/{application_id}/confirm")
def confirm(request: Request, application_id: int, staff: StaffForm, key: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, staff, key, "application.confirm.page", {"id": application_id},
                lambda s, principal: applications.confirm(s, principal, application_id, ctx.now(), ctx.today()),
                _applications)


@router.post("/loop/applications/{application_id}/refuse")
def refuse(request: Request, application_id: int, staff: StaffForm, key: str = Form(""),
           reason: str = Form("")):
    ctx = request.app.state.ctx
    return _act(request, staff, key, "application.refuse.page", {"id": application_id, "reason": reason},
                lambda s, principal: applications.refuse(s, principal, application_id, reason, ctx.now()), _applications)


@router.get("/loop/report")
def report_page(request: Request, staff: StaffDep, unit_id: int | None = None, date_from: str = "",
                date_to: str = ""):
    require_page(staff, "loop")
    ctx = request.app.state.ctx
    units = read(ctx, lambda s: org.list_units(s, staff.principal))
    today = ctx.today()
    start, end = date_from or today.replace(day=1).isoformat(), date_to or today.isoformat()
    report, error = None, None
    chosen = unit_id or (units[0]["id"] if units else None)
    try:
        if chosen is not None:
            report = read(ctx, lambda s: order_reports.order_report(
                s, staff.principal, chosen, dt.date.fromisoformat(start), dt.date.fromisoformat(end)))
    except (LedgerError, ValueError) as refused:
        error = error_text(refused) if isinstance(refused, LedgerError) else "日期格式不正确"
    return _page(request, "loop/report.html", staff, title="点单统计", units=units, chosen=chosen,
                 date_from=start, date_to=end, report=report, error=error)
