"""Reports of the service loop: orders received, dispatched, taken, completed and rated per
unit and period; response time (点单 → 接单); satisfaction (评单).

The counting is SQL (distinct orders per unit and step, in the period); the response time is
the difference of two event times per order, averaged here in whole minutes.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from ledger.errors import ValidationFailed
from ledger.people.access import Principal, require_role, require_unit
from ledger.people.tables import Unit
from ledger.service.order_rules import as_aware
from ledger.service.tables import OrderEvent, ServiceOrder
from ledger.store.uow import CHINA

STEPS = ("submitted", "dispatched", "taken", "completed", "rated")
STEP_NAMES = {"submitted": "received", "dispatched": "dispatched", "taken": "taken", "completed": "completed",
              "rated": "rated"}


def _bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    if date_to < date_from:
        raise ValidationFailed("结束日期不能早于开始日期 (date_to is before date_from)", field="date_to")
    start = dt.datetime.combine(date_from, dt.time(), tzinfo=CHINA)
    return start, dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tzinfo=CHINA)


def order_report(session: Session, principal: Principal, unit_id: int, date_from: dt.date,
                 date_to: dt.date) -> dict:
    """Per unit of the subtree (the unit an order was placed at): the loop's figures for the period."""
    require_role(principal, "admin", "unit_admin", "auditor")
    root = require_unit(session, principal, unit_id)
    start, end = _bounds(date_from, date_to)
    in_period = and_(OrderEvent.at >= start, OrderEvent.at < end, Unit.path.startswith(root.path))
    counted = session.execute(
        select(ServiceOrder.unit_id, OrderEvent.kind, func.count(func.distinct(OrderEvent.order_id)))
        .join(ServiceOrder, ServiceOrder.id == OrderEvent.order_id).join(Unit, Unit.id == ServiceOrder.unit_id)
        .where(in_period, OrderEvent.kind.in_(STEPS)).group_by(ServiceOrder.unit_id, OrderEvent.kind)).all()
    ratings = session.execute(
        select(ServiceOrder.unit_id, func.count(), func.sum(OrderEvent.rating),
               func.sum((OrderEvent.rating >= 4).cast(ServiceOrder.id.type)))
        .join(ServiceOrder, ServiceOrder.id == OrderEvent.order_id).join(Unit, Unit.id == ServiceOrder.unit_id)
        .where(in_period, OrderEvent.kind == "rated").group_by(ServiceOrder.unit_id)).all()
    units = dict(session.execute(select(Unit.id, Unit.name).where(Unit.path.startswith(root.path))).all())
    rows: dict[int, dict] = {}
    for unit, kind, count in counted:
        rows.setdefault(unit, _empty(unit, units))[STEP_NAMES[kind]] = int(count)
    for unit, count, total, satisfied in ratings:
        row = rows.setdefault(unit, _empty(unit, units))
        row["ratings"], row["rating_sum"], row["satisfied"] = int(count), int(total or 0), int(satisfied or 0)
    for unit, minutes in _response_minutes(session, root.path, start, end).items():
        rows.setdefault(unit, _empty(unit, units))["response"] = minutes
    total = _empty(None, {})
    for row in rows.values():
        for key, value in row.items():
            if key not in ("unit_id", "unit_name"):
                total[key] = total[key] + value
    items = [_finish(row) for _unit, row in sorted(rows.items())]
    return {"unit_id": root.id, "date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
            "units": items, "total": _finish(total)}


def _empty(unit_id: int | None, names: dict) -> dict:
    return {"unit_id": unit_id, "unit_name": names.get(unit_id, "合计"), "received": 0, "dispatched": 0,
            "taken": 0, "completed": 0, "rated": 0, "ratings": 0, "rating_sum": 0, "satisfied": 0,
            "response": []}


def _finish(row: dict) -> dict:
    """Average rating as a text with one decimal (no floats) and the satisfied share in percent."""
    minutes = row.pop("response")
    row["response_minutes_avg"] = sum(minutes) // len(minutes) if minutes else None
    count = row.pop("ratings")
    total, satisfied = row.pop("rating_sum"), row.pop("satisfied")
    tenths = (total * 10 + count // 2) // count if count else None
    row["rating_avg"] = f"{tenths // 10}.{tenths % 10}" if tenths is not None else None
    row["satisfaction_percent"] = (satisfied * 100 + count // 2) // count if count else None
    row["ratings"] = count
    return row


def _response_minutes(session: Session, root_path: str, start: dt.datetime, end: dt.datetime) -> dict[int, list]:
    """Minutes from each order's submission to its first take-up, for orders taken in the period."""
    submitted, taken = aliased(OrderEvent), aliased(OrderEvent)
    rows = session.execute(
        select(ServiceOrder.unit_id, submitted.at, func.min(taken.at))
        .join(submitted, and_(submitted.order_id == ServiceOrder.id, submitted.kind == "submitted"))
        .join(taken, and_(taken.order_id == ServiceOrder.id, taken.kind == "taken"))
        .join(Unit, Unit.id == ServiceOrder.unit_id)
        .where(Unit.path.startswith(root_path), taken.at >= start, taken.at < end)
        .group_by(ServiceOrder.id, ServiceOrder.unit_id, submitted.at)).all()
    found: dict[int, list] = {}
    for unit, submitted_at, taken_at in rows:
        found.setdefault(unit, []).append(int((as_aware(taken_at) - as_aware(submitted_at)).total_seconds() // 60))
    return found
