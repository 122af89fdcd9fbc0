"""Redemption desks (积分兑换点 / 爱心超市): the desk, its catalogue, and finding a volunteer.

A desk belongs to a unit and is open on some weekdays.  Its operators are users with role
desk_operator whose `desk_id` is the desk; unit admins of the desk's unit (or above) and
admins manage it.  A volunteer is found by volunteer number (志愿者编号), by a short-lived
signed QR token the volunteer shows on their phone, or by ID-card number (hashed lookup).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import Conflict, Forbidden, NotFound, UnknownVolunteer, ValidationFailed
from ledger.names import clean_name
from ledger.people.access import (
    Principal,
    can_see_volunteer,
    in_scope,
    require_in_scope,
    require_role,
    require_unit,
    unit_path,
)
from ledger.people.tables import Volunteer
from ledger.people.volunteers import find_by_id_number, find_by_number
from ledger.redemption.tables import Desk, DeskItem
from ledger.store.tables import AuditEntry
from ledger.volunteer_view import lookup

LIMIT_PERIODS = ("day", "week", "month", "year")
ITEM_KINDS = ("goods", "service")
MAX_PRICE_POINTS = 1_000_000  # an item's price: far above anything a desk offers
MAX_QUANTITY = 10_000_000  # one receipt of goods, one redemption line, a limit per volunteer
MAX_STOCK = 100_000_000  # an item's stock (counted, or after goods are received): well inside the column
QR_PREFIX = "vq1"
QR_TTL = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class CreateDesk:
    """Command: open a redemption desk at a unit, open on ISO weekdays (1 = Monday)."""

    unit_id: int
    code: str
    name: str
    opening_weekdays: tuple[int, ...] = (6,)


@dataclass(frozen=True)
class AddItem:
    """Command: add an item (goods or a service) to a desk's catalogue."""

    name: str
    price_points: int
    kind: str = "goods"
    unit_label: str = "件"
    limit_quantity: int | None = None
    limit_period: str | None = None


def desk_public(desk: Desk) -> dict:
    """A desk as shown to clients."""
    return {"id": desk.id, "code": desk.code, "name": desk.name, "unit_id": desk.unit_id,
            "opening_weekdays": list(desk.opening_weekdays or [])}


def item_public(item: DeskItem) -> dict:
    """A catalogue item as shown to clients."""
    return {"id": item.id, "desk_id": item.desk_id, "name": item.name, "kind": item.kind,
            "unit_label": item.unit_label, "price_points": item.price_points, "stock": item.stock,
            "limit_quantity": item.limit_quantity, "limit_period": item.limit_period,
            "is_active": item.is_active}


def require_desk(session: Session, principal: Principal, desk_id: int) -> Desk:
    """The desk, when the principal may see it (operators: only their own desk)."""
    desk = session.get(Desk, desk_id)
    if desk is None:
        raise NotFound(f"兑换点 {desk_id} 不存在或不在您的管辖范围", field="desk_id")
    if principal.role == "desk_operator" and principal.desk_id != desk.id:
        raise Forbidden("操作员只能在自己的兑换点办理 (an operator works only at their own desk)", field="desk_id")
    if principal.role == "volunteer":
        return desk  # volunteers see desks to reserve at; scope is checked on the volunteer
    # an operator's desk lies in their unit's subtree too: a desk_id set out of scope gives nothing
    require_in_scope(principal, unit_path(session, desk.unit_id), "兑换点", desk_id, "desk_id")
    return desk


def require_desk_worker(session: Session, principal: Principal, desk_id: int) -> Desk:
    """The desk, for someone who may redeem at it: its operator, a unit admin above it, an admin."""
    require_role(principal, "admin", "unit_admin", "desk_operator")
    return require_desk(session, principal, desk_id)


def require_desk_manager(session: Session, principal: Principal, desk_id: int) -> Desk:
    """The desk, for someone who may change its catalogue: a unit admin above it or an admin."""
    require_role(principal, "admin", "unit_admin")
    return require_desk(session, principal, desk_id)


def create_desk(session: Session, principal: Principal, command: CreateDesk) -> Desk:
    """Open a desk at a unit in scope."""
    require_role(principal, "admin", "unit_admin")
    require_unit(session, principal, command.unit_id)
    code = clean_name(command.code, "code", max_length=40, label="兑换点编码")
    name = clean_name(command.name, "name", max_length=200, label="兑换点名称")
    days = sorted(set(command.opening_weekdays))
    if not days or any(not isinstance(d, int) or d < 1 or d > 7 for d in days):
        raise ValidationFailed("opening_weekdays are ISO weekdays 1 (Monday) … 7 (Sunday), at least one",
                               field="opening_weekdays")
    if session.execute(select(Desk.id).where(Desk.code == code)).first():
        raise Conflict(f"desk code {code!r} is taken", field="code")
    desk = Desk(unit_id=command.unit_id, code=code, name=name,
                opening_weekdays=days)
    session.add(desk)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="desk.create", target=f"desk:{desk.id}",
                           detail={"unit_id": desk.unit_id, "code": desk.code}))
    return desk


def list_desks(session: Session, principal: Principal) -> list[dict]:
    """The desks the principal may see."""
    desks = session.execute(select(Desk).order_by(Desk.id)).scalars().all()
    if principal.role == "desk_operator":
        return [desk_public(d) for d in desks if d.id == principal.desk_id]
    if principal.role == "volunteer":
        return [desk_public(d) for d in desks]
    return [desk_public(d) for d in desks
            if in_scope(principal, unit_path(session, d.unit_id) or "")]


def add_item(session: Session, principal: Principal, desk_id: int, command: AddItem) -> DeskItem:
    """Add an item to a desk's catalogue (stock starts at zero; receive goods to fill it)."""
    require_desk_manager(session, principal, desk_id)
    command = _check_item(command)
    if session.execute(select(DeskItem.id).where(DeskItem.desk_id == desk_id,
                                                 DeskItem.name == command.name)).first():
        raise Conflict(f"the desk already has an item named {command.name!r}", field="name")
    item = DeskItem(desk_id=desk_id, name=command.name, kind=command.kind,
                    unit_label=command.unit_label, price_points=command.price_points, stock=0,
                    limit_quantity=command.limit_quantity, limit_period=command.limit_period,
                    is_active=True)
    session.add(item)
    session.flush()
    return item


def _check_item(command: AddItem) -> AddItem:
    """The command with its names cleaned, or the field that is wrong."""
    command = replace(command, name=clean_name(command.name, "name", max_length=200, label="物品名称"),
                      unit_label=clean_name(command.unit_label, "unit_label", max_length=20, label="计量单位"))
    if command.kind not in ITEM_KINDS:
        raise ValidationFailed("kind is goods or service", field="kind")
    _check_price(command.price_points)
    if (command.limit_quantity is None) != (command.limit_period is None):
        raise ValidationFailed("limit_quantity and limit_period go together", field="limit_period")
    if command.limit_period is not None and command.limit_period not in LIMIT_PERIODS:
        raise ValidationFailed(f"limit_period is one of {', '.join(LIMIT_PERIODS)}", field="limit_period")
    if command.limit_quantity is not None:
        whole_in_range(command.limit_quantity, "limit_quantity", "限兑数量", MAX_QUANTITY)
    return command


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def whole_in_range(value, field: str, label: str, high: int, low: int = 1) -> int:
    """A whole number from `low` to `high` (prices, quantities, stock); else an error naming the field."""
    if not _is_int(value) or not low <= value <= high:
        raise ValidationFailed(f"{label}应为 {low} 至 {high} 之间的整数 "
                               f"({field} must be a whole number from {low} to {high})", field=field)
    return value


def _check_price(price: int) -> None:
    whole_in_range(price, "price_points", "价格（积分）", MAX_PRICE_POINTS)


def set_price(session: Session, principal: Principal, desk_id: int, item_id: int, price: int) -> DeskItem:
    """Change an item's price; requests showing the old price are refused from now on."""
    require_desk_manager(session, principal, desk_id)
    _check_price(price)
    item = require_item(session, desk_id, item_id)
    before = item.price_points
    item.price_points = price
    session.add(AuditEntry(actor=principal.username, action="desk.price", target=f"desk_item:{item.id}",
                           detail={"before": before, "after": price}))
    return item


def require_item(session: Session, desk_id: int, item_id: int, field: str = "item_id") -> DeskItem:
    """An item of this desk's catalogue; else not found, naming the field."""
    item = session.get(DeskItem, item_id) if _is_int(item_id) else None
    if item is None or item.desk_id != desk_id:
        raise NotFound(f"item {item_id} is not in this desk's catalogue", field=field)
    return item


def list_items(session: Session, principal: Principal, desk_id: int) -> list[dict]:
    """A desk's catalogue, in name order."""
    require_desk(session, principal, desk_id)
    items = session.execute(select(DeskItem).where(DeskItem.desk_id == desk_id)
                            .order_by(DeskItem.id)).scalars()
    return [item_public(i) for i in items]


def next_opening_day(desk: Desk, today: dt.date) -> dt.date:
    """The first day after today on which the desk is open."""
    days = set(desk.opening_weekdays or [])
    for offset in range(1, 8):
        day = today + dt.timedelta(days=offset)
        if day.isoweekday() in days:
            return day
    raise Conflict("the desk has no opening days", field="opening_weekdays")


# --- QR token: HMAC over volunteer id and expiry --------------------------------------------

def _sign(secret: bytes, payload: str) -> str:
    mac = hmac.new(secret, f"desk-qr:{payload}".encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue_qr_token(secret: bytes, volunteer_id: int, now: dt.datetime) -> dict:
    """A signed token a volunteer shows at a desk (as a QR code); valid for ten minutes."""
    expires = int((now + QR_TTL).timestamp())
    payload = f"{volunteer_id}.{expires}"
    return {"token": f"{QR_PREFIX}.{payload}.{_sign(secret, payload)}",
            "expires_at": dt.datetime.fromtimestamp(expires, dt.timezone.utc).isoformat()}


def read_qr_token(secret: bytes, token: str, now: dt.datetime) -> int:
    """The volunteer id in a valid, unexpired token; refused with field qr_token otherwise."""
    parts = (token or "").strip().split(".")
    if len(parts) != 4 or parts[0] != QR_PREFIX or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValidationFailed("not a volunteer QR token", field="qr_token")
    payload = f"{parts[1]}.{parts[2]}"
    if not hmac.compare_digest(_sign(secret, payload), parts[3]):
        raise ValidationFailed("the QR token's signature does not match", field="qr_token")
    if int(parts[2]) < now.timestamp():
        raise ValidationFailed("the QR token has expired; ask the volunteer to refresh it",
                               field="qr_token")
    return int(parts[1])


def find_volunteer(session: Session, principal: Principal, secret: bytes, desk_id: int, *,
                   number: str | None = None, qr_token: str | None = None,
                   id_number: str | None = None, now: dt.datetime, today: dt.date) -> dict:
    """Find a volunteer at a desk by number, QR token or ID-card number; their summary."""
    require_desk_worker(session, principal, desk_id)
    given = [name for name, value in (("number", number), ("qr_token", qr_token),
                                      ("id_number", id_number)) if value]
    if len(given) != 1:
        raise ValidationFailed("give exactly one of number, qr_token, id_number", field="number")
    # unknown, and registered outside the desk's subtree, are one answer: no oracle of who exists
    try:
        if number:
            volunteer = find_by_number(session, number.strip())
        elif qr_token:
            volunteer = session.get(Volunteer, read_qr_token(secret, qr_token, now))
        else:
            volunteer = find_by_id_number(session, secret, id_number)
        if volunteer is None or not can_see_volunteer(session, principal, volunteer):
            raise UnknownVolunteer("", field=given[0])
        return lookup.volunteer_summary(session, principal, volunteer.id, today)
    except NotFound:
        raise UnknownVolunteer("本兑换点查无此志愿者，请核对后重试", field=given[0]) from None
