"""Stock of a desk's items: an append-only book of movements and a cached count per item.

Every change of stock is a `StockMovement` (receive, count adjustment, redeem, cancel,
reserve, release) with who, when and why; the item's cached `stock` changes in the same
database transaction, by a conditional UPDATE that never lets it go below zero (a CHECK
backs it).  The daily reconciliation compares the points the ledger says each desk took in
with the points valued on its stock movements, and each item's cached stock with its book.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.book.tables import Account, Posting
from ledger.errors import InsufficientStock, NotFound, ValidationFailed
from ledger.people.access import Principal
from ledger.redemption.desks import (
    MAX_QUANTITY,
    MAX_STOCK,
    require_desk,
    require_desk_worker,
    require_item,
    whole_in_range,
)
from ledger.redemption.tables import Desk, DeskItem, StockMovement
from ledger.store import jobruns
from ledger.store.session_state import session_state

RECONCILE_JOB = "reconcile_desks"  # the scheduled job that stores each day's report (jobs/redemption.py)

RECEIVE_SOURCES = ("donation", "purchase", "transfer", "other")


def move(session: Session, item: DeskItem, *, kind: str, quantity: int, actor: str, occurred_on: dt.date,
         reason: str = "", points: int = 0, receipt_id: int | None = None,
         reservation_id: int | None = None, field: str = "quantity") -> StockMovement:
    """Change an item's stock by `quantity` (signed) and book the movement; never below zero."""
    stmt = update(DeskItem).where(DeskItem.id == item.id).values(stock=DeskItem.stock + quantity)
    if quantity < 0:
        stmt = stmt.where(DeskItem.stock + quantity >= 0)
    try:
        result = session.execute(stmt.returning(DeskItem.stock))
        stock_after = result.scalar_one_or_none()
    except IntegrityError as exc:  # the CHECK, the last line of defence
        raise InsufficientStock(f"{item.name} 库存不足 (not enough {item.name} in stock)", field=field) from exc
    if stock_after is None:
        raise InsufficientStock(f"{item.name} 库存不足 (not enough {item.name} in stock)", field=field,
                                item_id=item.id)
    movement = StockMovement(desk_id=item.desk_id, item_id=item.id, kind=kind, quantity=quantity,
                             stock_after=stock_after, points=points, reason=reason, actor=actor,
                             occurred_on=occurred_on, receipt_id=receipt_id, reservation_id=reservation_id)
    session.add(movement)
    session.flush()
    session.refresh(item, ["stock"])
    return movement


def move_at_commit(session: Session, item: DeskItem, *, kind: str, quantity: int, actor: str,
                   occurred_on: dt.date, reason: str = "", points: int = 0, receipt_id: int | None = None,
                   reservation_id: int | None = None, field: str = "quantity") -> None:
    """As `move`, but the item's row is changed (and the movement booked) just before COMMIT.

    The same conditional UPDATE, in the same database transaction, so the same guarantee:
    stock never below zero, and a redemption that would take it there fails as a whole.
    Only the moment differs: an item every desk client redeems is then locked for the commit
    alone, not for the rest of the redemption, so redemptions of one item do not queue
    behind each other's postings.
    """
    session_state(session).deferred_stock.append(dict(
        desk_id=item.desk_id, item_id=item.id, name=item.name, kind=kind, quantity=quantity, points=points,
        reason=reason, actor=actor, occurred_on=occurred_on, receipt_id=receipt_id,
        reservation_id=reservation_id, field=field))


@event.listens_for(Session, "before_commit")
def apply_deferred_stock(session: Session) -> None:
    """Apply this transaction's deferred stock moves in item order (no deadlocks), then book them."""
    state = session_state(session)
    pending, state.deferred_stock = state.deferred_stock, []
    if not pending:
        return
    session.flush()
    rows = []
    for m in sorted(pending, key=lambda m: m["item_id"]):
        stmt = update(DeskItem).where(DeskItem.id == m["item_id"]).values(stock=DeskItem.stock + m["quantity"])
        if m["quantity"] < 0:
            stmt = stmt.where(DeskItem.stock + m["quantity"] >= 0)
        try:
            stock_after = session.execute(stmt.returning(DeskItem.stock)).scalar_one_or_none()
        except IntegrityError as exc:
            raise InsufficientStock(f"{m['name']} 库存不足 (not enough {m['name']} in stock)",
                                    field=m["field"]) from exc
        if stock_after is None:
            raise InsufficientStock(f"{m['name']} 库存不足 (not enough {m['name']} in stock)",
                                    field=m["field"], item_id=m["item_id"])
        rows.append({k: v for k, v in m.items() if k not in ("name", "field")} | {"stock_after": stock_after})
    session.execute(insert(StockMovement), rows)


@event.listens_for(Session, "after_rollback")
def _forget_deferred_stock(session: Session) -> None:
    session_state(session).deferred_stock = []


def movement_public(m: StockMovement) -> dict:
    """A stock movement as shown to clients."""
    return {"id": m.id, "desk_id": m.desk_id, "item_id": m.item_id, "kind": m.kind,
            "quantity": m.quantity, "stock_after": m.stock_after, "points": m.points,
            "reason": m.reason, "actor": m.actor, "occurred_on": m.occurred_on.isoformat(),
            "recorded_at": m.recorded_at.isoformat(), "receipt_id": m.receipt_id,
            "reservation_id": m.reservation_id}


def receive(session: Session, principal: Principal, desk_id: int, item_id: int, quantity: int,
            source: str, note: str, today: dt.date) -> StockMovement:
    """Record goods received (入库: donation, purchase, …) by whom and when."""
    require_desk_worker(session, principal, desk_id)
    item = require_item(session, desk_id, item_id)
    whole_in_range(quantity, "quantity", "入库数量", MAX_QUANTITY)
    if item.stock + quantity > MAX_STOCK:
        raise ValidationFailed(f"入库后库存将超过 {MAX_STOCK} (stock would exceed {MAX_STOCK})", field="quantity")
    if source not in RECEIVE_SOURCES:
        raise ValidationFailed(f"source is one of {', '.join(RECEIVE_SOURCES)}", field="source")
    reason = f"{source}: {note.strip()}" if note and note.strip() else source
    return move(session, item, kind="receive", quantity=quantity, actor=principal.username,
                occurred_on=today, reason=reason)


def count(session: Session, principal: Principal, desk_id: int, item_id: int, counted: int, reason: str,
          today: dt.date) -> StockMovement | None:
    """Record a stock count (盘点); a difference from the books is an adjustment with a reason."""
    require_desk_worker(session, principal, desk_id)
    item = require_item(session, desk_id, item_id)
    whole_in_range(counted, "counted", "盘点数量", MAX_STOCK, low=0)
    item = session.execute(select(DeskItem).where(DeskItem.id == item.id).with_for_update()).scalar_one()
    session.refresh(item, ["stock"])
    difference = counted - item.stock
    if difference == 0:
        return None
    if not reason or not reason.strip():
        raise ValidationFailed("a count that differs from the books needs a reason", field="reason")
    return move(session, item, kind="adjust", quantity=difference, actor=principal.username,
                occurred_on=today, reason=reason.strip(), field="counted")


def movements(session: Session, principal: Principal, desk_id: int, item_id: int | None = None,
              limit: int = 200) -> list[dict]:
    """A desk's stock book, newest first."""
    require_desk(session, principal, desk_id)
    query = select(StockMovement).where(StockMovement.desk_id == desk_id)
    if item_id is not None:
        query = query.where(StockMovement.item_id == item_id)
    rows = session.execute(query.order_by(StockMovement.id.desc()).limit(max(1, min(limit, 1000))))
    return [movement_public(m) for m in rows.scalars()]


# --- daily reconciliation (对账) -------------------------------------------------------------

def ledger_points(session: Session, desk_id: int, day: dt.date) -> int:
    """Points the ledger moved into the desk's redeemed account on a day (net of cancellations)."""
    total = session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.kind == "desk_points_redeemed", Account.owner_id == desk_id,
               Posting.occurred_on == day)
    ).scalar_one()
    return int(total)


def stock_points(session: Session, desk_id: int, day: dt.date) -> int:
    """Points valued on the desk's redeem and cancel stock movements of a day."""
    total = session.execute(
        select(func.coalesce(func.sum(StockMovement.points), 0))
        .where(StockMovement.desk_id == desk_id, StockMovement.occurred_on == day,
               StockMovement.kind.in_(("redeem", "cancel")))
    ).scalar_one()
    return int(total)


def stock_book_differences(session: Session, desk_id: int) -> list[dict]:
    """Items whose cached stock differs from the sum of their movements."""
    booked = dict(session.execute(
        select(StockMovement.item_id, func.sum(StockMovement.quantity))
        .where(StockMovement.desk_id == desk_id).group_by(StockMovement.item_id)).all())
    items = session.execute(select(DeskItem).where(DeskItem.desk_id == desk_id)).scalars()
    return [{"item_id": i.id, "name": i.name, "stock": i.stock, "booked": int(booked.get(i.id) or 0)}
            for i in items if i.stock != int(booked.get(i.id) or 0)]


def reconcile_day(session: Session, day: dt.date) -> dict:
    """Every desk's reconciliation for a day: ledger vs stock movements; `ok` when no difference."""
    desks = []
    for desk in session.execute(select(Desk).order_by(Desk.id)).scalars():
        in_ledger, in_stock = ledger_points(session, desk.id, day), stock_points(session, desk.id, day)
        redeemed = session.execute(
            select(func.coalesce(func.sum(StockMovement.quantity), 0))
            .where(StockMovement.desk_id == desk.id, StockMovement.occurred_on == day,
                   StockMovement.kind.in_(("redeem", "cancel")))).scalar_one()
        items = stock_book_differences(session, desk.id)
        desks.append({"desk_id": desk.id, "code": desk.code, "name": desk.name,
                      "ledger_points": in_ledger, "stock_points": in_stock,
                      "difference": in_ledger - in_stock, "items_out": -int(redeemed),
                      "stock_differences": items, "ok": in_ledger == in_stock and not items})
    return {"day": day.isoformat(), "ok": all(d["ok"] for d in desks),
            "differences": sum(1 for d in desks if not d["ok"]), "desks": desks}


def desk_report(report: dict, desk_id: int) -> dict:
    """One desk's part of a day's reconciliation report."""
    for entry in report.get("desks", []):
        if entry["desk_id"] == desk_id:
            return {"day": report["day"], **entry}
    return {"day": report.get("day"), "desk_id": desk_id, "ledger_points": 0, "stock_points": 0,
            "difference": 0, "items_out": 0, "stock_differences": [], "ok": True}


def desk_reconciliation(session: Session, principal: Principal, desk_id: int, day: dt.date, *,
                        live: bool) -> dict:
    """One desk's reconciliation of a day: the stored job report, or computed now when `live`."""
    require_desk_worker(session, principal, desk_id)
    if live:
        return {**desk_report(reconcile_day(session, day), desk_id), "source": "live"}
    stored = jobruns.finished_run(session, RECONCILE_JOB, day.isoformat())
    if stored is None:
        raise NotFound(f"{day.isoformat()} 的对账尚未运行（每天结束后运行）；加 live=true 可立即计算",
                       field="day")
    return {**desk_report(stored.result, desk_id), "source": "job", "ran_at": stored.finished_at.isoformat()}
