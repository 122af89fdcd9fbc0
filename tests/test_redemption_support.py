"""Helpers for the redemption tests (no tests here): a desk with items and a volunteer with points."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ledger.people.access import SYSTEM, Principal
from ledger.redemption import desks, stock
from ledger.redemption.tables import DeskItem
from tests import factories as f

SERVICE_DAY = dt.date(2026, 11, 2)  # a plain Monday: 10 points an hour for 文化文艺


@dataclass
class DeskWorld:
    units: dict
    desk_id: int
    desk_code: str
    operator: Principal
    operator_token: str
    admin: Principal
    admin_token: str
    items: dict  # name -> item id
    recorder: Principal
    approver: Principal


def give_points(world: DeskWorld, ctx, volunteer_id: int, hours: int, day: dt.date = SERVICE_DAY) -> int:
    """Post approved service worth `hours` × 10 points (at most 8 h a day, the per-activity cap,
    so longer service goes on the following plain days); returns the points given."""
    left = hours
    while left > 0:
        if day.day == 5:  # the monthly 志愿服务日 (×1.2): keep the figures plain
            day += dt.timedelta(days=1)
            continue
        chunk = min(left, 8)
        activity_id = f.activity(ctx, world.units["station_a"], day)
        f.served(ctx, world.recorder, world.approver, volunteer_id, activity_id,
                 dt.datetime.combine(day, dt.time(8, 0)), chunk * 60)
        left, day = left - chunk, day + dt.timedelta(days=1)
    return hours * 10


def desk_world(ctx, *, items=(("大米 5kg", 50, 100), ("食用油", 30, 100)), weekdays=(6,),
               limits: dict | None = None) -> DeskWorld:
    """A county tree, a desk at station A open on `weekdays`, items (name, price, stock), an operator."""
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    admin, admin_token = f.user(ctx, "unit_admin", units["institute"])
    code = f.ref("D")
    item_ids = {}
    with ctx.uow() as uow:
        s = uow.session
        desk = desks.create_desk(s, SYSTEM, desks.CreateDesk(units["station_a"], code, "东风村爱心超市",
                                                             tuple(weekdays)))
        for name, price, quantity in items:
            limit_quantity, limit_period = (limits or {}).get(name, (None, None))
            item = desks.add_item(s, SYSTEM, desk.id, desks.AddItem(name, price, limit_quantity=limit_quantity,
                                                                    limit_period=limit_period))
            if quantity:
                stock.receive(s, SYSTEM, desk.id, item.id, quantity, "donation", "爱心企业捐赠", ctx.today())
            item_ids[name] = item.id
        uow.commit()
        desk_id = desk.id
    operator, operator_token = f.user(ctx, "desk_operator", units["station_a"], desk_id=desk_id)
    return DeskWorld(units, desk_id, code, operator, operator_token, admin, admin_token, item_ids, recorder,
                     approver)


def stock_of(ctx, item_id: int) -> int:
    with ctx.uow() as uow:
        return uow.session.get(DeskItem, item_id).stock
