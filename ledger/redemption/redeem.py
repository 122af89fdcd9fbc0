"""Redemption (积分兑换): a volunteer's points for a desk's goods or services, in one transaction.

`redeem` locks the volunteer's row (so desks acting for one volunteer at once are served one
after the other), checks every line (known item, whole positive quantity, the price shown is
the price now, the limit per period), takes the stock by conditional UPDATEs, and posts
volunteer_points → desk_points_redeemed.  The non-negative CHECKs on the volunteer's account
and on stock are the last line.  The stock rows are taken just before COMMIT
(`stock.move_at_commit`), so a popular item is locked for the commit alone.  A cancellation (撤销) is a reversal that returns the stock:
the same day by the desk, later only by a unit admin or an admin.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.book.accounts import POINTS, account_id, balance
from ledger.book.postings import Leg, post, reverse
from ledger.errors import (
    AlreadyCancelled,
    Forbidden,
    InsufficientPoints,
    LimitReached,
    NotFound,
    PriceChanged,
    UnknownVolunteer,
    ValidationFailed,
)
from ledger.people.access import Principal, can_see_volunteer, require_volunteer
from ledger.people.tables import Volunteer
from ledger.people.volunteers import lock_volunteer
from ledger.redemption.desks import MAX_QUANTITY, require_desk_worker, require_item, whole_in_range
from ledger.redemption.stock import move, move_at_commit
from ledger.redemption.tables import Desk, DeskItem, Receipt, ReceiptLine, Reservation, ReservationLine
from ledger.store.tables import AuditEntry, utcnow

MAX_LINES = 50
PERIOD_ZH = {"day": "日", "week": "周", "month": "月", "year": "年"}  # limit periods, for messages


@dataclass(frozen=True)
class Line:
    """One requested item: how many, at the price the screen showed."""

    item_id: int
    quantity: int
    price: int


@dataclass(frozen=True)
class CheckedLine:
    """A line checked against the catalogue: the item and the points it costs."""

    item: DeskItem
    quantity: int
    unit_price: int

    @property
    def points(self) -> int:
        return self.quantity * self.unit_price


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_lines(session: Session, desk_id: int, lines: list[Line]) -> list[CheckedLine]:
    """Check each line against the catalogue; the error names the line's field (items[i].…)."""
    if not lines:
        raise ValidationFailed("pick at least one item", field="items")
    if len(lines) > MAX_LINES:
        raise ValidationFailed(f"at most {MAX_LINES} lines per redemption", field="items")
    checked, seen = [], set()
    for index, line in enumerate(lines):
        where = f"items[{index}]"
        item = require_item(session, desk_id, line.item_id, field=f"{where}.item_id")
        if not item.is_active:
            raise NotFound(f"{item.name} is no longer offered", field=f"{where}.item_id")
        if item.id in seen:
            raise ValidationFailed(f"{item.name} appears twice; give one line per item", field=f"{where}.item_id")
        seen.add(item.id)
        whole_in_range(line.quantity, f"{where}.quantity", "兑换数量", MAX_QUANTITY)
        if not _whole(line.price) or line.price != item.price_points:
            raise PriceChanged(f"{item.name} 的价格已变为 {item.price_points} 分（不是 {line.price} 分），"
                               "请刷新后与志愿者确认 "
                               f"(the price of {item.name} is now {item.price_points} points, "
                               f"not {line.price}; refresh and confirm with the volunteer)", field=f"{where}.price",
                               item_id=item.id, price_points=item.price_points)
        checked.append(CheckedLine(item, line.quantity, item.price_points))
    return checked


def period_bounds(period: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The [start, end) of the limit period (day, week, month, year) that contains `day`."""
    if period == "day":
        return day, day + dt.timedelta(days=1)
    if period == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        return start, (start + dt.timedelta(days=32)).replace(day=1)
    return day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1)


def quantity_taken(session: Session, volunteer_id: int, item_id: int, start: dt.date, end: dt.date) -> int:
    """How many of an item a volunteer redeemed (not cancelled) or holds reserved in [start, end)."""
    redeemed = session.execute(
        select(func.coalesce(func.sum(ReceiptLine.quantity), 0))
        .join(Receipt, Receipt.id == ReceiptLine.receipt_id)
        .where(Receipt.volunteer_id == volunteer_id, ReceiptLine.item_id == item_id,
               Receipt.status == "posted", Receipt.occurred_on >= start, Receipt.occurred_on < end)
    ).scalar_one()
    reserved = session.execute(
        select(func.coalesce(func.sum(ReservationLine.quantity), 0))
        .join(Reservation, Reservation.id == ReservationLine.reservation_id)
        .where(Reservation.volunteer_id == volunteer_id, ReservationLine.item_id == item_id,
               Reservation.status == "held", Reservation.pickup_on >= start, Reservation.pickup_on < end)
    ).scalar_one()
    return int(redeemed) + int(reserved)


def check_limits(session: Session, volunteer_id: int, lines: list[CheckedLine], day: dt.date) -> None:
    """Refuse a line that would pass its item's limit per volunteer per period (call under lock)."""
    for index, line in enumerate(lines):
        item = line.item
        if item.limit_quantity is None:
            continue
        start, end = period_bounds(item.limit_period, day)
        taken = quantity_taken(session, volunteer_id, item.id, start, end)
        if taken + line.quantity > item.limit_quantity:
            raise LimitReached(
                f"{item.name}：每人每{PERIOD_ZH.get(item.limit_period, item.limit_period)}"
                f"限兑 {item.limit_quantity} 件，"
                f"已兑 {taken} 件 ({item.name}: at most {item.limit_quantity} per volunteer per "
                f"{item.limit_period}; {taken} already taken)", field=f"items[{index}].quantity",
                limit=item.limit_quantity, taken=taken)


def require_spendable(session: Session, volunteer_id: int, points: int) -> int:
    """Refuse when the volunteer's spendable points do not cover `points` (call under lock); the points."""
    have = balance(session, "volunteer_points", volunteer_id)
    if have < points:
        raise InsufficientPoints(f"积分不足：需要 {points} 分，当前 {have} 分 "
                                 f"(needs {points} points; the volunteer has {have})", field="items",
                                 needed=points, balance=have)
    return have


def active_volunteer(session: Session, principal: Principal, volunteer_id: int) -> Volunteer:
    """Lock the volunteer's row; refused when unknown, out of the principal's scope or left."""
    if not _whole(volunteer_id):
        raise ValidationFailed("volunteer_id must be a whole number", field="volunteer_id")
    try:
        volunteer = lock_volunteer(session, volunteer_id)
    except UnknownVolunteer:
        volunteer = None
    if volunteer is None or not can_see_volunteer(session, principal, volunteer):
        require_volunteer(session, principal, volunteer_id)  # raises the usual "not found or outside your scope"
    if volunteer.status != "active":
        raise ValidationFailed("the volunteer has left this deployment", field="volunteer_id")
    return volunteer


def redeem(session: Session, principal: Principal, desk_id: int, volunteer_id: int, lines: list[Line],
           today: dt.date) -> dict:
    """Redeem items for a volunteer at a desk; returns the receipt (number, items, points, balance)."""
    desk = require_desk_worker(session, principal, desk_id)
    volunteer = active_volunteer(session, principal, volunteer_id)
    checked = check_lines(session, desk.id, lines)
    check_limits(session, volunteer_id, checked, today)
    total = sum(line.points for line in checked)
    have = require_spendable(session, volunteer_id, total)
    receipt = _new_receipt(session, desk, volunteer_id, principal.username, total, today)
    for index, line in enumerate(checked):  # taken at COMMIT, in item order (no deadlocks)
        move_at_commit(session, line.item, kind="redeem", quantity=-line.quantity, actor=principal.username,
                       occurred_on=today, points=line.points, receipt_id=receipt.id,
                       field=f"items[{index}].quantity")
    source = account_id(session, "volunteer_points", volunteer_id)
    # the volunteer's row is locked: nothing else spends these points before we commit
    return _post_receipt(session, desk, receipt, checked, source, today, principal.username,
                         balance_after=have - total, volunteer=volunteer)


def _new_receipt(session: Session, desk: Desk, volunteer_id: int, operator: str, points: int,
                 today: dt.date, reservation_id: int | None = None) -> Receipt:
    receipt = Receipt(number=f"tmp-{secrets.token_hex(10)}", desk_id=desk.id,
                      volunteer_id=volunteer_id, operator=operator, occurred_on=today, points=points,
                      balance_after=0, transaction_id=0, reservation_id=reservation_id, status="posted")
    session.add(receipt)
    session.flush()
    receipt.number = f"{desk.code}-{today:%Y%m%d}-{receipt.id:06d}"
    return receipt


def _post_receipt(session: Session, desk: Desk, receipt: Receipt, checked: list[CheckedLine],
                  source_account: int, today: dt.date, actor: str, balance_after: int | None = None,
                  volunteer: Volunteer | None = None) -> dict:
    """Post the receipt's points from `source_account` to the desk, write its lines; the receipt."""
    volunteer_id = receipt.volunteer_id
    names = "、".join(f"{c.item.name}×{c.quantity}" for c in checked)
    tx = post(session, kind="redemption", key=f"redemption:{receipt.id}", occurred_on=today, actor=actor,
              legs=[Leg(source_account, POINTS, -receipt.points, volunteer_id, desk.unit_id),
                    Leg(account_id(session, "desk_points_redeemed", desk.id), POINTS, receipt.points,
                        volunteer_id, desk.unit_id)],
              volunteer_id=volunteer_id, unit_id=desk.unit_id,
              memo=f"{desk.name} 兑换 {receipt.number}: {names}")
    receipt_lines = [ReceiptLine(receipt_id=receipt.id, item_id=c.item.id, item_name=c.item.name,
                                 quantity=c.quantity, unit_price=c.unit_price, points=c.points)
                     for c in checked]
    session.add_all(receipt_lines)
    receipt.transaction_id = tx.id
    receipt.balance_after = (balance(session, "volunteer_points", volunteer_id) if balance_after is None
                             else balance_after)
    session.flush()
    return receipt_public(session, receipt, desk=desk, volunteer=volunteer, lines=receipt_lines)


def receipt_public(session: Session, receipt: Receipt, *, desk: Desk | None = None,
                   volunteer: Volunteer | None = None, lines: list[ReceiptLine] | None = None) -> dict:
    """A receipt (兑换小票) as shown and printed: number, items, points, balance after.

    `desk`, `volunteer`, `lines`: the receipt's own, when the caller holds them already.
    """
    desk = desk or session.get(Desk, receipt.desk_id)
    volunteer = volunteer or session.get(Volunteer, receipt.volunteer_id)
    if lines is None:
        lines = session.execute(select(ReceiptLine).where(ReceiptLine.receipt_id == receipt.id)
                                .order_by(ReceiptLine.id)).scalars().all()
    return {"number": receipt.number, "desk_id": desk.id, "desk_name": desk.name,
            "volunteer_id": volunteer.id, "volunteer_number": volunteer.number,
            "volunteer_name": volunteer.name, "operator": receipt.operator,
            "occurred_on": receipt.occurred_on.isoformat(),
            "items": [{"item_id": l.item_id, "name": l.item_name, "quantity": l.quantity,
                       "unit_price": l.unit_price, "points": l.points} for l in lines],
            "points": receipt.points, "balance_after": receipt.balance_after,
            "transaction_id": receipt.transaction_id, "reservation_id": receipt.reservation_id,
            "status": receipt.status, "cancel_reason": receipt.cancel_reason,
            "cancelled_by": receipt.cancelled_by,
            "cancel_transaction_id": receipt.cancel_transaction_id}


def require_receipt(session: Session, principal: Principal, desk_id: int, number: str) -> Receipt:
    """A receipt of this desk, by number."""
    require_desk_worker(session, principal, desk_id)
    receipt = session.execute(select(Receipt).where(Receipt.number == number)).scalar_one_or_none()
    if receipt is None or receipt.desk_id != desk_id:
        raise NotFound(f"no receipt {number!r} at this desk", field="number")
    return receipt


def cancel(session: Session, principal: Principal, desk_id: int, number: str, reason: str,
           today: dt.date) -> dict:
    """Cancel a redemption: reverse its transaction and return the stock, with a reason."""
    if not reason or not reason.strip():
        raise ValidationFailed("a cancellation needs a reason", field="reason")
    receipt = require_receipt(session, principal, desk_id, number)
    lock_volunteer(session, receipt.volunteer_id)
    session.refresh(receipt)
    if receipt.status == "cancelled":
        raise AlreadyCancelled(f"兑换单 {number} 已撤销（{receipt.cancel_reason}） "
                               f"(receipt {number} was already cancelled: {receipt.cancel_reason})",
                               field="number")
    if receipt.occurred_on != today and principal.role not in ("admin", "unit_admin"):
        raise Forbidden("a redemption of an earlier day is cancelled by a unit admin", field="number")
    tx = reverse(session, receipt.transaction_id, actor=principal.username, occurred_on=today,
                 memo=f"撤销 {receipt.number}: {reason.strip()}", kind="redemption_cancel")
    lines = session.execute(select(ReceiptLine).where(ReceiptLine.receipt_id == receipt.id)
                            .order_by(ReceiptLine.item_id)).scalars().all()
    for line in lines:
        move(session, session.get(DeskItem, line.item_id), kind="cancel", quantity=line.quantity,
             actor=principal.username, occurred_on=today, points=-line.points, receipt_id=receipt.id,
             reason=reason.strip())
    receipt.status, receipt.cancel_reason = "cancelled", reason.strip()
    receipt.cancelled_by, receipt.cancelled_at, receipt.cancel_transaction_id = principal.username, utcnow(), tx.id
    session.add(AuditEntry(actor=principal.username, action="desk.cancel", target=f"receipt:{receipt.number}",
                           detail={"reason": reason.strip(), "points": receipt.points}))
    session.flush()
    return {**receipt_public(session, receipt),
            "balance_now": balance(session, "volunteer_points", receipt.volunteer_id)}


def list_receipts(session: Session, principal: Principal, desk_id: int, day: dt.date | None = None,
                  limit: int = 100) -> list[dict]:
    """A desk's receipts, newest first (optionally of one day)."""
    require_desk_worker(session, principal, desk_id)
    query = select(Receipt).where(Receipt.desk_id == desk_id)
    if day is not None:
        query = query.where(Receipt.occurred_on == day)
    rows = session.execute(query.order_by(Receipt.id.desc()).limit(max(1, min(limit, 500)))).scalars()
    return [receipt_public(session, r) for r in rows]
