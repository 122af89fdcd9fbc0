"""志愿者 pages: search, register, one volunteer (hours, points, stars, history, memberships),
transfer, a sign-in code printed as a slip with a QR code, and a unit's printable roster."""
from __future__ import annotations

import base64
import datetime as dt
import io
from typing import Annotated

from fastapi import APIRouter, Form, Request

from api.console import menu
from api.console.web import (
    FormErrors,
    StaffDep,
    StaffForm,
    form_write,
    new_form_key,
    page,
    redirect,
    require_page,
    unit_options,
)
from api.deps import CtxDep
from ledger.book.amounts import hours_text
from ledger.errors import LedgerError, ValidationFailed
from ledger.people import search, signin, volunteers
from ledger.store.usecase import read
from ledger.transfers import moves
from ledger.volunteer_view import lookup, selfservice

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("volunteers", "志愿者", "/console/volunteers", ("admin", "unit_admin", "auditor"), order=10))

KINDS = {"service": "志愿服务", "reversal": "冲正（更正）", "rating_bonus": "评价奖励", "redemption": "积分兑换",
         "redemption_cancel": "取消兑换", "expiry": "积分过期", "transfer": "转移接续", "transfer_in": "转入",
         "transfer_out": "转出", "adjustment": "调整", "reservation": "预约冻结", "release": "释放冻结"}
ROSTER_LIMIT = 2000
Text = Annotated[str, Form(max_length=200)]


@router.get("/console/volunteers")
def search_page(request: Request, ctx: CtxDep, staff: StaffDep, q: str = ""):
    require_page(staff, "volunteers")
    errors, found = FormErrors(), None
    if q.strip():
        try:
            found = read(ctx, lambda s: search.search_volunteers(s, staff.principal, ctx.secret_key, q))
        except LedgerError as error:
            errors.add(error, fields=("q",))
    return page(request, "console/volunteers.html", staff, active="volunteers", q=q, found=found, errors=errors,
                units=unit_options(ctx, staff.principal))


def _register_form(request, ctx, staff, *, values: dict, errors: FormErrors, status: int = 200):
    return page(request, "console/volunteer_new.html", staff, active="volunteers", values=values, errors=errors,
                units=unit_options(ctx, staff.principal), form_key=new_form_key(), status=status)


@router.get("/console/volunteers/new")
def register_form(request: Request, ctx: CtxDep, staff: StaffDep):
    require_page(staff, "volunteers")
    return _register_form(request, ctx, staff, values={"registered_on": ctx.today().isoformat()}, errors=FormErrors())


def _date(value: str, field: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed("日期格式应为 2026-11-20", field=field) from None


def _unit_id(value: str, field: str) -> int:
    if not value.strip().isdigit():
        raise ValidationFailed("请选择单位", field=field)
    return int(value)


@router.post("/console/volunteers/new")
def register(request: Request, ctx: CtxDep, staff: StaffForm, name: Text = "", home_unit_id: Text = "",
             id_number: Text = "", phone: Text = "", is_party_member: Text = "", registered_on: Text = "",
             form_key: Text = ""):
    """Register a volunteer at a unit in scope; errors next to their fields."""
    values = {"name": name, "home_unit_id": home_unit_id, "id_number": id_number, "phone": phone,
              "is_party_member": is_party_member, "registered_on": registered_on}
    errors = FormErrors()
    if not name.strip():
        errors.by_field["name"] = "请填写姓名"
    try:
        command = volunteers.RegisterVolunteer(
            name=name.strip(), home_unit_id=_unit_id(home_unit_id, "home_unit_id"),
            id_number=id_number.strip() or None, phone=phone.strip() or None,
            is_party_member=is_party_member == "yes", registered_on=_date(registered_on, "registered_on"))
        if errors:
            raise ValidationFailed(errors.by_field["name"], field="name")
        fingerprint = {**values, "id_number": volunteers.keyed_hash_or_none(ctx.secret_key, command.id_number),
                       "phone": volunteers.keyed_hash_or_none(ctx.secret_key, command.phone)}
        made = form_write(ctx, staff, form_key, "volunteer.register", fingerprint,
                          lambda s: volunteers.volunteer_public(
                              volunteers.register_volunteer(s, staff.principal, ctx.secret_key, command, ctx.today())))
    except LedgerError as error:
        errors.add(error, fields=tuple(values))
        return _register_form(request, ctx, staff, values=values, errors=errors, status=error.status)
    return redirect(f"/console/volunteers/{made['id']}?registered=1")


def _volunteer_view(ctx, staff, volunteer_id: int) -> dict:
    principal = staff.principal

    def run(session):
        summary = selfservice.summary(session, principal, volunteer_id, ctx.today())
        history = lookup.volunteer_history(session, principal, volunteer_id, limit=30)
        memberships = moves.membership_history(session, principal, volunteer_id)["memberships"]
        return summary, history, memberships

    summary, history, memberships = read(ctx, run)
    for item in history["items"]:
        item["kind_name"] = KINDS.get(item["kind"], item["kind"])
        item["hours"] = hours_text(item["minutes"]) if item["minutes"] else ""
    return {"summary": summary, "volunteer": summary["volunteer"], "history": history["items"],
            "memberships": memberships}


def _show(request, ctx, staff, volunteer_id: int, *, errors: FormErrors | None = None, status: int = 200,
          **extra):
    view = _volunteer_view(ctx, staff, volunteer_id)
    return page(request, "console/volunteer.html", staff, active="volunteers", **view, errors=errors or FormErrors(),
                units=unit_options(ctx, staff.principal), can_write=staff.principal.role in menu.MANAGERS,
                form_key=new_form_key(), today=ctx.today().isoformat(), status=status, **extra)


@router.get("/console/volunteers/{volunteer_id}")
def volunteer_page(request: Request, ctx: CtxDep, staff: StaffDep, volunteer_id: int, registered: int = 0,
                   moved: int = 0):
    require_page(staff, "volunteers")
    return _show(request, ctx, staff, volunteer_id, registered=bool(registered), moved=bool(moved))


@router.post("/console/volunteers/{volunteer_id}/transfer")
def transfer(request: Request, ctx: CtxDep, staff: StaffForm, volunteer_id: int, to_unit_id: Text = "",
             effective_on: Text = "", reason: Text = "", form_key: Text = ""):
    """Move the volunteer's home unit from a date (岗位变动: 转移接续)."""
    require_page(staff, "volunteers")
    try:
        command = moves.TransferVolunteer(volunteer_id=volunteer_id, to_unit_id=_unit_id(to_unit_id, "to_unit_id"),
                                          effective_on=_date(effective_on, "effective_on") or ctx.today(),
                                          reason=reason.strip())
        limit = int(ctx.options.get("transfer_future_limit_days", 30))
        form_write(ctx, staff, form_key, "volunteer.transfer",
                   {"volunteer_id": volunteer_id, "to_unit_id": to_unit_id, "effective_on": effective_on,
                    "reason": reason},
                   lambda s: moves.transfer_volunteer(s, staff.principal, command, today=ctx.today(),
                                                      future_limit_days=limit))
    except LedgerError as error:
        errors = FormErrors()
        errors.add(error, fields=("to_unit_id", "effective_on", "reason"))
        return _show(request, ctx, staff, volunteer_id, errors=errors, status=error.status)
    return redirect(f"/console/volunteers/{volunteer_id}?moved=1")


def qr_data_uri(text: str) -> str:
    """A QR code of `text` as an SVG data URI (an <img>: no markup of ours in the page)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@router.post("/console/volunteers/{volunteer_id}/sign-in-code")
def issue_code(request: Request, ctx: CtxDep, staff: StaffForm, volunteer_id: int, kind: Text = "code"):
    """Issue a one-time code or a PIN and show it once, as a slip to print and hand over."""
    require_page(staff, "volunteers")
    limits = signin.Limits.from_options(ctx.options)
    try:
        from ledger.store.usecase import write_once

        issued = write_once(ctx, lambda s: signin.issue_code(s, staff.principal, ctx.secret_key, volunteer_id,
                                                             kind=kind, now=ctx.now(), limits=limits))
    except LedgerError as error:
        errors = FormErrors()
        errors.add(error, fields=("kind",))
        return _show(request, ctx, staff, volunteer_id, errors=errors, status=error.status)
    view = _volunteer_view(ctx, staff, volunteer_id)
    link = str(request.base_url).rstrip("/") + f"/my?number={issued['volunteer_number']}"
    expires = issued["expires_at"]
    if expires:  # shown in China's time, as everything people read
        from ledger.store.uow import CHINA

        expires = dt.datetime.fromisoformat(expires).astimezone(CHINA).isoformat()
    return page(request, "console/code_slip.html", staff, active="volunteers", issued=issued, qr=qr_data_uri(link),
                link=link, volunteer=view["volunteer"], home_unit=view["summary"]["home_unit"],
                expires=expires[:16].replace("T", " ") if expires else None)


@router.get("/console/roster")
def roster(request: Request, ctx: CtxDep, staff: StaffDep, unit_id: int):
    """A unit's volunteers, to print (花名册)."""
    require_page(staff, "volunteers")

    def run(session):
        from ledger.people.access import require_unit

        unit = require_unit(session, staff.principal, unit_id)
        rows = volunteers.list_volunteers(session, staff.principal, unit_id=unit_id, number=None,
                                          limit=ROSTER_LIMIT, offset=0)
        return unit.name, rows

    try:
        unit_name, rows = read(ctx, run)
    except LedgerError as error:
        errors = FormErrors()
        errors.add(error)
        return page(request, "console/volunteers.html", staff, active="volunteers", q="", found=None, errors=errors,
                    units=unit_options(ctx, staff.principal), status=error.status)
    return page(request, "console/roster.html", staff, active="volunteers", unit_name=unit_name, rows=rows,
                printed_on=ctx.today().isoformat(), limit=ROSTER_LIMIT)
