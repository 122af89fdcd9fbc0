"""Reservations (预约兑换): items set aside for the desk's next opening day, points held.

Reserving moves the points volunteer_points → volunteer_points_held (not spendable
elsewhere) and the stock out by a `reserve` movement.  Pickup redeems from the held points
at the reserved prices.  A reservation not picked up by the end of its opening day is
released by the scheduled job: the hold is reversed and the stock returns.  Every step
locks the volunteer's row, so a reservation is released, picked up or cancelled once.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.accounts import POINTS, account_id
from ledger.book.postings import Leg, post, reverse
from ledger.errors import AlreadyCancelled, Conflict, NotFound, ValidationFailed
from ledger.people.access import Principal, require_role
from ledger.people.volunteers import lock_volunteer
from ledger.redemption.desks import next_opening_day, require_desk, require_desk_worker
from ledger.redemption.redeem import (
    CheckedLine,
    Line,
    _new_receipt,
    _post_receipt,
    active_volunteer,
    check_limits,
    check_lines,
    require_spendable,
)
from ledger.redemption.stock import move
from ledger.redemption.tables import DeskItem, Reservation, ReservationLine
from ledger.store.tables import utcnow


def reservation_public(session: Session, reservation: Reservation) -> dict:
    """A reservation as shown to clients, with its lines."""
    lines = session.execute(select(ReservationLine).where(ReservationLine.reservation_id == reservation.id)
                            .order_by(ReservationLine.id)).scalars()
    return {"id": reservation.id, "desk_id": reservation.desk_id, "volunteer_id": reservation.volunteer_id,
            "pickup_on": reservation.pickup_on.isoformat(), "points": reservation.points,
            "status": reservation.status, "transaction_id": reservation.transaction_id,
            "release_transaction_id": reservation.release_transaction_id,
            "receipt_id": reservation.receipt_id, "created_by": reservation.created_by,
            "items": [{"item_id": l.item_id, "name": l.item_name, "quantity": l.quantity,
                       "unit_price": l.unit_price, "points": l.points} for l in lines]}


def reserve(session: Session, principal: Principal, desk_id: int, volunteer_id: int, lines: list[Line],
            today: dt.date) -> dict:
    """Reserve items for the desk's next opening day; the points are held until pickup."""
    require_role(principal, "admin", "unit_admin", "desk_operator", "volunteer")
    desk = require_desk(session, principal, desk_id)
    active_volunteer(session, principal, volunteer_id)
    pickup_on = next_opening_day(desk, today)
    checked = check_lines(session, desk.id, lines)
    check_limits(session, volunteer_id, checked, pickup_on)
    total = sum(c.points for c in checked)
    require_spendable(session, volunteer_id, total)
    reservation = Reservation(desk_id=desk.id, volunteer_id=volunteer_id, pickup_on=pickup_on, points=total,
                              status="held", transaction_id=0, created_by=principal.username)
    session.add(reservation)
    session.flush()
    for index, c in sorted(enumerate(checked), key=lambda pair: pair[1].item.id):
        move(session, c.item, kind="reserve", quantity=-c.quantity, actor=principal.username,
             occurred_on=today, reservation_id=reservation.id, reason=f"预约 {pickup_on.isoformat()}",
             field=f"items[{index}].quantity")
    session.add_all([ReservationLine(reservation_id=reservation.id, item_id=c.item.id, item_name=c.item.name,
                                     quantity=c.quantity, unit_price=c.unit_price, points=c.points)
                     for c in checked])
    tx = post(session, kind="reservation", key=f"reservation:{reservation.id}", occurred_on=today,
              actor=principal.username,
              legs=[Leg(account_id(session, "volunteer_points", volunteer_id), POINTS, -total, volunteer_id,
                        desk.unit_id),
                    Leg(account_id(session, "volunteer_points_held", volunteer_id), POINTS, total,
                        volunteer_id, desk.unit_id)],
              volunteer_id=volunteer_id, unit_id=desk.unit_id,
              memo=f"{desk.name} 预约 {pickup_on.isoformat()} (reservation {reservation.id})")
    reservation.transaction_id = tx.id
    session.flush()
    return reservation_public(session, reservation)


def _locked_reservation(session: Session, principal: Principal, desk_id: int, reservation_id: int) -> Reservation:
    reservation = session.get(Reservation, reservation_id)
    if reservation is None or reservation.desk_id != desk_id:
        raise NotFound(f"no reservation {reservation_id} at this desk", field="reservation_id")
    if principal.role == "volunteer" and reservation.volunteer_id != principal.volunteer_id:
        raise NotFound(f"no reservation {reservation_id} at this desk", field="reservation_id")
    lock_volunteer(session, reservation.volunteer_id)
    session.refresh(reservation)
    if reservation.status == "cancelled":
        raise AlreadyCancelled(f"reservation {reservation_id} was cancelled", field="reservation_id")
    if reservation.status != "held":
        raise Conflict(f"reservation {reservation_id} is already {reservation.status}", field="reservation_id")
    return reservation


def _lines(session: Session, reservation_id: int) -> list[ReservationLine]:
    return session.execute(select(ReservationLine).where(ReservationLine.reservation_id == reservation_id)
                           .order_by(ReservationLine.item_id)).scalars().all()


def pickup(session: Session, principal: Principal, desk_id: int, reservation_id: int, today: dt.date) -> dict:
    """Hand over reserved items: redeem from the held points at the reserved prices; the receipt."""
    desk = require_desk_worker(session, principal, desk_id)
    reservation = _locked_reservation(session, principal, desk.id, reservation_id)
    receipt = _new_receipt(session, desk, reservation.volunteer_id, principal.username, reservation.points,
                           today, reservation_id=reservation.id)
    checked = []
    for line in _lines(session, reservation.id):
        item = session.get(DeskItem, line.item_id)
        move(session, item, kind="release", quantity=line.quantity, actor=principal.username,
             occurred_on=today, reservation_id=reservation.id, reason="取货")
        move(session, item, kind="redeem", quantity=-line.quantity, actor=principal.username,
             occurred_on=today, points=line.points, receipt_id=receipt.id, reservation_id=reservation.id)
        checked.append(CheckedLine(item, line.quantity, line.unit_price))
    held = account_id(session, "volunteer_points_held", reservation.volunteer_id)
    result = _post_receipt(session, desk, receipt, checked, held, today, principal.username)
    reservation.status, reservation.receipt_id, reservation.closed_at = "picked_up", receipt.id, utcnow()
    session.flush()
    return result


def _release(session: Session, reservation: Reservation, *, actor: str, today: dt.date, status: str,
             reason: str) -> None:
    tx = reverse(session, reservation.transaction_id, actor=actor, occurred_on=today,
                 memo=f"预约 {reservation.id} {reason}", kind="reservation_release")
    for line in _lines(session, reservation.id):
        move(session, session.get(DeskItem, line.item_id), kind="release", quantity=line.quantity, actor=actor,
             occurred_on=today, reservation_id=reservation.id, reason=reason)
    reservation.status, reservation.release_transaction_id, reservation.closed_at = status, tx.id, utcnow()
    session.flush()


def cancel_reservation(session: Session, principal: Principal, desk_id: int, reservation_id: int,
                       reason: str, today: dt.date) -> dict:
    """Cancel a held reservation (the volunteer, or the desk): points and stock return."""
    require_role(principal, "admin", "unit_admin", "desk_operator", "volunteer")
    require_desk(session, principal, desk_id)
    if not reason or not reason.strip():
        raise ValidationFailed("a cancellation needs a reason", field="reason")
    reservation = _locked_reservation(session, principal, desk_id, reservation_id)
    _release(session, reservation, actor=principal.username, today=today, status="cancelled",
             reason=f"取消: {reason.strip()}")
    return reservation_public(session, reservation)


def release_unpicked(session: Session, day: dt.date, *, actor: str, today: dt.date) -> dict:
    """Release every held reservation whose opening day is `day` or earlier; counts per desk."""
    due = session.execute(select(Reservation.id, Reservation.volunteer_id)
                          .where(Reservation.status == "held", Reservation.pickup_on <= day)
                          .order_by(Reservation.volunteer_id, Reservation.id)).all()
    released: dict[str, int] = {}
    points = 0
    for reservation_id, volunteer_id in due:
        lock_volunteer(session, volunteer_id)
        reservation = session.get(Reservation, reservation_id)
        session.refresh(reservation)
        if reservation.status != "held":  # picked up or cancelled meanwhile
            continue
        _release(session, reservation, actor=actor, today=today, status="released", reason="未取货, 到期释放")
        released[str(reservation.desk_id)] = released.get(str(reservation.desk_id), 0) + 1
        points += reservation.points
    return {"day": day.isoformat(), "released": sum(released.values()), "points": points,
            "by_desk": released}


def list_reservations(session: Session, principal: Principal, desk_id: int, status: str | None = None,
                      pickup_on: dt.date | None = None) -> list[dict]:
    """A desk's reservations (a volunteer sees only their own)."""
    require_desk(session, principal, desk_id)
    query = select(Reservation).where(Reservation.desk_id == desk_id)
    if principal.role == "volunteer":
        query = query.where(Reservation.volunteer_id == principal.volunteer_id)
    elif principal.role not in ("admin", "unit_admin", "desk_operator", "auditor"):
        return []
    if status:
        query = query.where(Reservation.status == status)
    if pickup_on:
        query = query.where(Reservation.pickup_on == pickup_on)
    rows = session.execute(query.order_by(Reservation.id.desc()).limit(500)).scalars()
    return [reservation_public(session, r) for r in rows]

