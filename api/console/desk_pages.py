"""兑换点 at the desk (tablet): find the volunteer by name, phone digits, number or QR; a cart that
says before submit when the points do not cover it; the day's receipts with cancel on each; the
items, their prices and stock (received, counted) on a page of their own."""
from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.console import menu
from api.console.policy_pages import form_values
from api.console.web import FormErrors, PageRefused, StaffDep, StaffForm, form_write, page, redirect, require_page
from api.deps import CtxDep
from ledger.errors import LedgerError, ValidationFailed
from ledger.people.search import search_volunteers
from ledger.redemption import desks, redeem as redemption
from ledger.store.usecase import read
from ledger.volunteer_view import lookup

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("desk", "兑换点", "/console/desk", ("admin", "unit_admin", "desk_operator"), order=80))
PERIOD_NAMES = {"day": "每天", "week": "每周", "month": "每月", "year": "每年"}


def desk_of(ctx, staff, desk_id: int | None) -> tuple[dict | None, list[dict]]:
    """The desk a page works at (an operator's own; else the one asked for, or the first in scope)."""
    found = read(ctx, lambda s: desks.list_desks(s, staff.principal))
    if desk_id is None:
        return (found[0] if found else None), found
    chosen = next((desk for desk in found if desk["id"] == desk_id), None)
    if chosen is None:
        raise PageRefused(404, "兑换点不存在或不在您的管辖范围")
    return chosen, found


def _volunteer(ctx, staff, desk_id: int, volunteer_id: int | None, qr: str, errors: FormErrors) -> dict | None:
    """The volunteer being served: by id (from a search result) or by a scanned QR token."""
    try:
        if qr:
            return read(ctx, lambda s: desks.find_volunteer(s, staff.principal, ctx.secret_key, desk_id,
                                                            qr_token=qr, now=ctx.now(), today=ctx.today()))
        if volunteer_id is not None:
            return read(ctx, lambda s: lookup.volunteer_summary(s, staff.principal, volunteer_id, ctx.today()))
    except LedgerError as error:
        errors.add(error, ("q", "qr"))
    return None


def _search(ctx, staff, q: str, errors: FormErrors) -> list[dict] | None:
    if not q:
        return None
    try:
        return read(ctx, lambda s: search_volunteers(s, staff.principal, ctx.secret_key, q))
    except LedgerError as error:
        errors.add(error, ("q",))
        return None


@router.get("/console/desk")
def desk_page(request: Request, ctx: CtxDep, staff: StaffDep, desk_id: int | None = None,
              volunteer_id: int | None = None, q: str = "", qr: str = "", receipt: str | None = None,
              cancelled: str | None = None):
    """The desk's counter: search, the volunteer, the cart, the day's receipts."""
    require_page(staff, "desk")
    errors = FormErrors()
    return _counter(request, ctx, staff, desk_id, volunteer_id, q.strip(), qr.strip(), errors,
                    receipt=receipt, cancelled=cancelled)


def _counter(request, ctx, staff, desk_id, volunteer_id, q, qr, errors, *, status=200, quantities=None, **flash):
    desk, all_desks = desk_of(ctx, staff, desk_id)
    if desk is None:
        return page(request, "console/desk_counter.html", staff, active="desk", desk=None, desks=[], errors=errors)
    volunteer = _volunteer(ctx, staff, desk["id"], volunteer_id, qr, errors)
    items = [item for item in read(ctx, lambda s: desks.list_items(s, staff.principal, desk["id"])) if item["is_active"]]
    receipts = read(ctx, lambda s: redemption.list_receipts(s, staff.principal, desk["id"], ctx.today()))
    shown_receipt = next((r for r in receipts if r["number"] == flash.get("receipt")), None)
    return page(request, "console/desk_counter.html", staff, status=status, active="desk", desk=desk,
                desks=all_desks, volunteer=volunteer, results=_search(ctx, staff, q, errors), q=q, items=items,
                receipts=receipts, errors=errors, key=secrets.token_urlsafe(18), quantities=quantities or {},
                shown_receipt=shown_receipt, cancelled=flash.get("cancelled"), periods=PERIOD_NAMES,
                may_manage=staff.principal.role in ("admin", "unit_admin"))


def _lines(values: dict) -> list[redemption.Line]:
    lines = []
    for name, text in values.items():
        if not name.startswith("qty_") or not text.strip() or text.strip() == "0":
            continue
        item_id = int(name[4:])
        if not text.strip().isdigit():
            raise ValidationFailed("数量应为整数", field=name)
        lines.append(redemption.Line(item_id=item_id, quantity=int(text),
                                     price=int(values.get(f"price_{item_id}", "0") or 0)))
    if not lines:
        raise ValidationFailed("请至少选择一件物品", field="items")
    return lines


@router.post("/console/desk/redeem")
async def redeem(request: Request, ctx: CtxDep, staff: StaffForm):
    """Redeem the cart; a refusal (points, stock, limit, price) comes back on the counter in Chinese."""
    require_page(staff, "desk")
    values = await form_values(request)
    return await run_in_threadpool(_redeem, request, ctx, staff, values)


def _redeem(request, ctx, staff, values: dict):
    desk_id, volunteer_id = int(values.get("desk_id", "0")), int(values.get("volunteer_id", "0"))
    errors = FormErrors()
    try:
        lines = _lines(values)
        result = form_write(ctx, staff, values.get("key", ""), "desk.redeem",
                            {"desk_id": desk_id, "volunteer_id": volunteer_id,
                                   "lines": [vars(line) for line in lines]},
                            lambda s: redemption.redeem(s, staff.principal, desk_id, volunteer_id, lines, ctx.today()))
    except LedgerError as error:
        errors.general.append(_message(error))
        quantities = {name[4:]: text for name, text in values.items() if name.startswith("qty_")}
        return _counter(request, ctx, staff, desk_id, volunteer_id, "", "", errors, status=error.status,
                        quantities=quantities)
    return redirect(f"/console/desk?desk_id={desk_id}&volunteer_id={volunteer_id}&receipt={result['number']}")


def _message(error: LedgerError) -> str:
    from api.i18n import chinese_message

    return chinese_message(error.code, error.message, error.field)


@router.post("/console/desk/cancel")
async def cancel(request: Request, ctx: CtxDep, staff: StaffForm):
    """Cancel one of the day's receipts, with a reason; the points and the stock come back."""
    require_page(staff, "desk")
    values = await form_values(request)
    desk_id, number = int(values.get("desk_id", "0")), values.get("number", "")
    try:
        await run_in_threadpool(lambda: form_write(
            ctx, staff, values.get("key", ""), "desk.cancel", {"desk_id": desk_id, "number": number,
                                                                         "reason": values.get("reason", "")},
            lambda s: redemption.cancel(s, staff.principal, desk_id, number, values.get("reason", ""),
                                           ctx.today())))
    except LedgerError as error:
        errors = FormErrors()
        errors.general.append(f"撤销 {number} 未成功：{_message(error)}")
        return await run_in_threadpool(_counter, request, ctx, staff, desk_id, None, "", "", errors,
                                       status=error.status)
    return redirect(f"/console/desk?desk_id={desk_id}&cancelled={number}")
