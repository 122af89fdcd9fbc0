"""活动与服务记录 pages: activities, the services of one activity entered as a grid in one
submit (all or nothing, each bad row named), the approval queue for the second person
(approve or refuse one by one or a selection), and reversal with a reason."""
from __future__ import annotations

import datetime as dt
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
from api.i18n import chinese_message
from ledger.errors import LedgerError, ValidationFailed
from ledger.incentives.document import NATIONAL_CATEGORIES
from ledger.people import volunteers
from ledger.service import activities, record_lists, records
from ledger.store.usecase import read, write_once

router = APIRouter(include_in_schema=False)
MANAGE = ("admin", "unit_admin")
menu.register(menu.MenuItem("activities", "活动与服务记录", "/console/activities", MANAGE + ("auditor",), order=20))
menu.register(menu.MenuItem("approvals", "审核", "/console/approvals", MANAGE, order=25))
GRID_ROWS = 10
Text = Annotated[str, Form(max_length=400)]


class GridRefused(Exception):
    """Some rows of a grid were refused: nothing is recorded (the unit of work rolls back)."""

    def __init__(self, row_errors: dict[int, str]):
        super().__init__("grid refused")
        self.row_errors = row_errors


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed("日期格式应为 2026-11-20", field=field) from None


@router.get("/console/activities")
def activities_page(request: Request, ctx: CtxDep, staff: StaffDep):
    return _activities(request, ctx, staff)


def _activities(request, ctx, staff, *, errors: FormErrors | None = None, values: dict | None = None,
                status: int = 200):
    require_page(staff, "activities")
    listed = read(ctx, lambda s: activities.list_activities(s, staff.principal, limit=50))
    return page(request, "console/activities.html", staff, active="activities", activities=listed,
                units=unit_options(ctx, staff.principal), categories=NATIONAL_CATEGORIES,
                values=values or {"held_on": ctx.today().isoformat()}, errors=errors or FormErrors(),
                form_key=new_form_key(), can_write=staff.principal.role in MANAGE, status=status)


@router.post("/console/activities")
def create_activity(request: Request, ctx: CtxDep, staff: StaffForm, unit_id: Text = "", title: Text = "",
                    category: Text = "", held_on: Text = "", place: Text = "", is_concentrated: Text = "",
                    form_key: Text = ""):
    """Create an activity; then its page, where its services are entered."""
    require_page(staff, "activities")
    values = {"unit_id": unit_id, "title": title, "category": category, "held_on": held_on, "place": place,
              "is_concentrated": is_concentrated}
    try:
        if not unit_id.isdigit():
            raise ValidationFailed("请选择单位", field="unit_id")
        if not title.strip():
            raise ValidationFailed("请填写活动名称", field="title")
        command = activities.CreateActivity(unit_id=int(unit_id), title=title.strip(), category=category.strip(),
                                            held_on=_date(held_on, "held_on"), place=place.strip(),
                                            is_concentrated=is_concentrated == "yes")
        made = form_write(ctx, staff, form_key, "activity.create", values,
                          lambda s: activities.activity_public(
                              activities.create_activity(s, staff.principal, command, staff.principal.user_id)))
    except LedgerError as error:
        errors = FormErrors()
        errors.add(error, fields=tuple(values))
        return _activities(request, ctx, staff, errors=errors, values=values, status=error.status)
    return redirect(f"/console/activities/{made['id']}")


def _activity_page(request, ctx, staff, activity_id: int, *, rows: list[dict] | None = None,
                   row_errors: dict[int, str] | None = None, errors: FormErrors | None = None, saved: int = 0,
                   status: int = 200):
    def run(session):
        info, listed = record_lists.activity_records(session, staff.principal, activity_id)
        choices = volunteers.list_volunteers(session, staff.principal, unit_id=info["unit_id"], number=None,
                                             limit=500, offset=0) if staff.principal.role in MANAGE else []
        return info, listed, choices

    info, listed, choices = read(ctx, run)
    blank = [{"volunteer": "", "start": "", "end": "", "minutes": ""} for _ in range(GRID_ROWS)]
    return page(request, "console/activity.html", staff, active="activities", activity=info, records=listed,
                choices=choices, rows=rows or blank, row_errors=row_errors or {}, errors=errors or FormErrors(),
                form_key=new_form_key(), can_write=staff.principal.role in MANAGE, saved=saved, status=status)


@router.get("/console/activities/{activity_id}")
def activity_page(request: Request, ctx: CtxDep, staff: StaffDep, activity_id: int, saved: int = 0):
    require_page(staff, "activities")
    return _activity_page(request, ctx, staff, activity_id, saved=saved)


def _grid_rows(form) -> list[dict]:
    columns = [form.getlist(name) for name in ("volunteer", "start", "end", "minutes")]
    rows = [dict(zip(("volunteer", "start", "end", "minutes"), values)) for values in zip(*columns)]
    return [{k: str(v).strip()[:40] for k, v in row.items()} for row in rows][:200]


def _time(held_on: dt.date, text: str, what: str) -> dt.datetime:
    try:
        return dt.datetime.combine(held_on, dt.time.fromisoformat(text))
    except ValueError:
        raise ValidationFailed(f"{what}格式应为 09:00", field=what) from None


def _record_row(session, staff, held_on: dt.date, activity_id: int, row: dict, now_local) -> None:
    if not row["volunteer"]:
        raise ValidationFailed("请填写志愿者编号", field="volunteer")
    volunteer = volunteers.find_by_number(session, row["volunteer"].split()[0])
    minutes = int(row["minutes"]) if row["minutes"].isdigit() else None
    if row["minutes"] and minutes is None:
        raise ValidationFailed("服务时长应为整数（分钟）", field="minutes")
    command = records.RecordService(volunteer_id=volunteer.id, activity_id=activity_id,
                                    started_at=_time(held_on, row["start"], "开始时间"),
                                    ended_at=_time(held_on, row["end"], "结束时间"), minutes=minutes,
                                    source="console")
    records.record_service(session, staff.principal, command, now_local)


def _record_grid(session, staff, ctx, activity_id: int, rows: list[dict]) -> dict:
    activity = activities.require_activity(session, staff.principal, activity_id)
    errors: dict[int, str] = {}
    for index, row in enumerate(rows):
        if not any(row.values()):
            continue
        try:
            _record_row(session, staff, activity.held_on, activity_id, row, ctx.local_now())
        except LedgerError as error:
            errors[index] = chinese_message(error.code, error.message, error.field, error.details)
    if errors:
        raise GridRefused(errors)
    return {"recorded": sum(1 for row in rows if any(row.values()))}


@router.post("/console/activities/{activity_id}/services")
async def record_grid(request: Request, ctx: CtxDep, staff: StaffForm, activity_id: int):
    """Every filled row of the grid is recorded as pending in one transaction, or none is."""
    from fastapi.concurrency import run_in_threadpool

    require_page(staff, "activities")
    form = await request.form()
    rows = _grid_rows(form)
    filled = [row for row in rows if any(row.values())]
    form_key = str(form.get("form_key") or "")

    def run():
        if not filled:
            return _activity_page(request, ctx, staff, activity_id, rows=rows, status=422,
                                  errors=FormErrors(general=["请至少填写一行"]))
        try:
            done = form_write(ctx, staff, form_key, "activity.grid", {"activity_id": activity_id, "rows": rows},
                              lambda s: _record_grid(s, staff, ctx, activity_id, rows))
        except GridRefused as refused:
            return _activity_page(request, ctx, staff, activity_id, rows=rows, row_errors=refused.row_errors,
                                  status=422, errors=FormErrors(general=[
                                      f"有 {len(refused.row_errors)} 行有误，未录入任何记录；请改正后再提交"]))
        except LedgerError as error:
            errors = FormErrors()
            errors.add(error)
            return _activity_page(request, ctx, staff, activity_id, rows=rows, errors=errors, status=error.status)
        return redirect(f"/console/activities/{activity_id}?saved={done['recorded']}")

    return await run_in_threadpool(run)


@router.get("/console/approvals")
def approvals_page(request: Request, ctx: CtxDep, staff: StaffDep, approved: int = 0, rejected: int = 0,
                   reversed_id: int = 0):
    done = (f"{approved} 条已审核通过并入账" if approved else f"{rejected} 条已退回" if rejected
            else f"记录 {reversed_id} 已冲正" if reversed_id else "")  # built from numbers, never from the link's text
    return _approvals(request, ctx, staff, done=done)


def _approvals(request, ctx, staff, *, done: str = "", status: int = 200, errors: FormErrors | None = None):
    require_page(staff, "approvals")
    queue = read(ctx, lambda s: record_lists.approval_queue(s, staff.principal))
    posted = read(ctx, lambda s: record_lists.recent_records(s, staff.principal, "posted", limit=30))
    return page(request, "console/approvals.html", staff, active="approvals", queue=queue, posted=posted,
                done=done, errors=errors or FormErrors(), status=status)


@router.post("/console/approvals")
async def decide(request: Request, ctx: CtxDep, staff: StaffForm):
    """Approve or refuse the selected records (or the one whose button was pressed), each on its own."""
    from fastapi.concurrency import run_in_threadpool

    require_page(staff, "approvals")
    form = await request.form()
    single = str(form.get("record") or "")
    action = str(form.get("action") or ("approve" if single else ""))
    ids = [int(x) for x in ([single] if single.isdigit() else form.getlist("ids")) if str(x).isdigit()][:500]
    reason = str(form.get("reason") or "").strip()[:400]

    def run():
        errors = FormErrors()
        if not ids:
            errors.general.append("请先勾选要处理的记录")
        elif action == "reject" and not reason:
            errors.by_field["reason"] = "退回需要填写原因"
        if errors:
            return _approvals(request, ctx, staff, status=422, errors=errors)
        done = 0
        for record_id in ids:
            try:
                write_once(ctx, lambda s, rid=record_id: records.approve_record(s, staff.principal, rid)
                           if action == "approve" else records.reject_record(s, staff.principal, rid, reason))
                done += 1
            except LedgerError as error:
                errors.general.append(f"记录 {record_id}：" + chinese_message(error.code, error.message, error.field))
        word = "审核通过并入账" if action == "approve" else "退回"
        if errors:
            return _approvals(request, ctx, staff, status=409, errors=errors, done=f"{done} 条已{word}" if done else "")
        return redirect(f"/console/approvals?{'approved' if action == 'approve' else 'rejected'}={done}")

    return await run_in_threadpool(run)


@router.post("/console/records/{record_id}/reverse")
def reverse(request: Request, ctx: CtxDep, staff: StaffForm, record_id: int, reason: Text = ""):
    """Reverse a posted record with a reason (a correction is a reversal, never an edit)."""
    require_page(staff, "approvals")
    try:
        write_once(ctx, lambda s: records.reverse_record(s, staff.principal, record_id, reason.strip(), ctx.today()))
    except LedgerError as error:
        errors = FormErrors()
        errors.general.append(f"记录 {record_id}：" + chinese_message(error.code, error.message, error.field))
        return _approvals(request, ctx, staff, status=error.status, errors=errors)
    return redirect(f"/console/approvals?reversed_id={record_id}")
