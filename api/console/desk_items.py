"""兑换点's catalogue: items and prices (added and changed by a unit admin), stock received and
counted (by the desk too), and the stock book; each form answers on this page, errors by field."""
from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.console.desk_pages import PERIOD_NAMES, desk_of, form_values
from api.console.web import FormErrors, StaffDep, StaffForm, form_write, page, redirect, require_page
from api.deps import CtxDep
from ledger.errors import LedgerError, ValidationFailed
from ledger.people.access import SYSTEM_ACTOR
from ledger.redemption import desks, stock
from ledger.store.usecase import read

router = APIRouter(include_in_schema=False)
SOURCE_NAMES = {"donation": "捐赠", "purchase": "采购", "transfer": "调拨", "other": "其他"}
MOVE_NAMES = {"receive": "入库", "adjust": "盘点调整", "redeem": "兑换", "cancel": "撤销退回", "reserve": "预约",
              "release": "预约释放"}
MANAGERS = ("admin", "unit_admin")


@router.get("/console/desk/items")
def items_page(request: Request, ctx: CtxDep, staff: StaffDep, desk_id: int | None = None, done: str | None = None):
    require_page(staff, "desk")
    return _items(request, ctx, staff, desk_id, FormErrors(), {}, done=done)


def _items(request, ctx, staff, desk_id, errors: FormErrors, values: dict, *, status: int = 200, done=None):
    desk, _ = desk_of(ctx, staff, desk_id)
    items = read(ctx, lambda s: desks.list_items(s, staff.principal, desk["id"])) if desk else []
    moves = read(ctx, lambda s: stock.movements(s, staff.principal, desk["id"], limit=30)) if desk else []
    names = {item["id"]: item["name"] for item in items}
    for move in moves:  # the stock book says where goods came from in words, not codes
        source, _, note = (move["reason"] or "").partition(": ")
        if source in SOURCE_NAMES:
            move["reason"] = SOURCE_NAMES[source] + (f"：{note}" if note else "")
        move["actor"] = "系统" if move["actor"] == SYSTEM_ACTOR else move["actor"]
    return page(request, "console/desk_items.html", staff, status=status, active="desk", desk=desk, items=items,
                moves=moves, names=names, errors=errors, values=values, done=done, sources=SOURCE_NAMES,
                move_names=MOVE_NAMES, periods=PERIOD_NAMES, may_manage=staff.principal.role in MANAGERS,
                blank=FormErrors(), key=secrets.token_urlsafe(18))


def _whole(values: dict, name: str, label: str, *, blank=None) -> int | None:
    text = values.get(name, "").strip()
    if not text and blank is not None:
        return None if blank == "none" else blank
    if not text.isdigit():
        raise ValidationFailed(f"{label}应为整数", field=name)
    return int(text)


def _act(values: dict, staff, ctx, desk_id: int):
    """The one change a form asks for, as (operation, request, function of the session)."""
    action, today, who = values.get("action"), ctx.today(), staff.principal
    if action == "add":
        limit = _whole(values, "limit_quantity", "限兑数量", blank="none")
        command = desks.AddItem(name=values.get("name", ""), price_points=_whole(values, "price_points", "单价"),
                                kind=values.get("kind", "goods"), unit_label=values.get("unit_label", "").strip() or "件",
                                limit_quantity=limit, limit_period=values.get("limit_period") if limit else None)
        return "desk.item", vars(command), lambda s: desks.item_public(desks.add_item(s, who, desk_id, command))
    item_id = _whole(values, "item_id", "物品")
    if action == "price":
        price = _whole(values, "price_points", "单价")
        return "desk.price", {"item_id": item_id, "price": price}, \
            lambda s: desks.item_public(desks.set_price(s, who, desk_id, item_id, price))
    if action == "receive":
        quantity = _whole(values, "quantity", "数量")
        request = {"item_id": item_id, "quantity": quantity, "source": values.get("source", ""),
                   "note": values.get("note", "")}
        return "desk.receive", request, lambda s: stock.movement_public(stock.receive(
            s, who, desk_id, item_id, quantity, request["source"], request["note"], today))
    if action == "count":
        counted = _whole(values, "counted", "盘点数量")
        request = {"item_id": item_id, "counted": counted, "reason": values.get("reason", "")}
        return "desk.count", request, lambda s: _counted(stock.count(s, who, desk_id, item_id, counted,
                                                                     request["reason"], today))
    raise ValidationFailed("未知的操作", field="action")


def _counted(movement) -> dict:
    return stock.movement_public(movement) if movement is not None else {"difference": 0}


@router.post("/console/desk/items")
async def change_items(request: Request, ctx: CtxDep, staff: StaffForm):
    """Add an item, change a price, receive goods or record a count."""
    require_page(staff, "desk")
    values = await form_values(request)
    return await run_in_threadpool(_change, request, ctx, staff, values)


def _change(request, ctx, staff, values: dict):
    desk_id = int(values.get("desk_id", "0"))
    try:
        operation, body, fn = _act(values, staff, ctx, desk_id)
        form_write(ctx, staff, values.get("key", ""), operation, {"desk_id": desk_id, **body}, fn)
    except LedgerError as error:
        errors = FormErrors()
        errors.add(error, ("name", "price_points", "unit_label", "limit_quantity", "limit_period", "quantity",
                           "source", "counted", "reason", "item_id"))
        return _items(request, ctx, staff, desk_id, errors, values, status=error.status)
    return redirect(f"/console/desk/items?desk_id={desk_id}&done={values.get('action')}")
