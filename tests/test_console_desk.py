"""兑换点 in the console: find by name or phone digits, a cart refused when the points do not
cover it, a receipt, cancel with a reason, items added, stock received and counted."""
from __future__ import annotations

import datetime as dt
import re

from ledger.people.access import SYSTEM
from ledger.redemption import desks
from tests import factories as f
from tests.console_support import client_sign_in, console_client, form_csrf, staff  # noqa: F401
from tests.test_redemption_support import SERVICE_DAY


def desk_world(ctx):
    """A station's desk with a towel (30 points, 5 in stock) and a volunteer with 50 points."""
    units = f.tree(ctx)
    with ctx.uow() as uow:
        desk = desks.create_desk(uow.session, SYSTEM, desks.CreateDesk(units["station_a"], f.ref("D"), "东风村爱心超市",
                                                                      (1, 2, 3, 4, 5, 6, 7)))
        item = desks.add_item(uow.session, SYSTEM, desk.id, desks.AddItem(name="毛巾", price_points=30))
        uow.commit()
        desk_id, item_id = desk.id, item.id
    from ledger.redemption import stock
    with ctx.uow() as uow:
        stock.receive(uow.session, SYSTEM, desk_id, item_id, 5, "donation", "", ctx.today())
        uow.commit()
    volunteer = f.volunteer(ctx, units["station_a"], name="李秀英")
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    activity = f.activity(ctx, units["station_a"], SERVICE_DAY)
    f.served(ctx, recorder, approver, volunteer, activity, dt.datetime.combine(SERVICE_DAY, dt.time(9)), 300)
    return units, desk_id, item_id, volunteer


def _key(html: str) -> str:
    return re.search(r'name="key" value="([^"]+)"', html)[1]


def test_an_operator_finds_redeems_is_refused_beyond_the_points_and_cancels(console_client, ctx):
    units, desk_id, item_id, volunteer = desk_world(ctx)
    operator, _ = staff(ctx, "desk_operator", units["station_a"], desk_id=desk_id)
    client_sign_in(console_client, operator.username)
    found = console_client.get("/console/desk?q=秀英")
    assert f"volunteer_id={volunteer}" in found.text
    counter = console_client.get(f"/console/desk?volunteer_id={volunteer}")
    assert 'id="points">50<' in counter.text and 'data-points="50"' in counter.text
    form = {"csrf_token": form_csrf(counter.text), "desk_id": desk_id, "volunteer_id": volunteer,
            "key": _key(counter.text), f"price_{item_id}": "30"}
    too_much = console_client.post("/console/desk/redeem", data={**form, f"qty_{item_id}": "2"})
    assert too_much.status_code == 409 and "积分不足" in too_much.text
    done = console_client.post("/console/desk/redeem", data={**form, "key": _key(too_much.text),
                                                             f"qty_{item_id}": "1"}, follow_redirects=False)
    assert done.status_code == 303
    after = console_client.get(done.headers["location"])
    number = re.search(r"已兑换：小票 (\S+)，", after.text)[1]
    assert "余额 20 分" in after.text and f'id="receipt-{number}"' in after.text
    cancelled = console_client.post("/console/desk/cancel", follow_redirects=False, data={
        "csrf_token": form_csrf(after.text), "desk_id": desk_id, "number": number, "reason": "拿错了",
        "key": "cancel-" + number})
    assert cancelled.status_code == 303
    final = console_client.get(cancelled.headers["location"])
    assert f"已撤销小票 {number}" in final.text and "撤销原因：拿错了" in final.text


def test_a_unit_admin_adds_an_item_receives_and_counts(console_client, ctx):
    units, desk_id, item_id, _ = desk_world(ctx)
    admin, _ = staff(ctx, "unit_admin", units["station_a"])
    client_sign_in(console_client, admin.username)
    shown = console_client.get(f"/console/desk/items?desk_id={desk_id}")
    base = {"csrf_token": form_csrf(shown.text), "desk_id": desk_id}
    bad = console_client.post("/console/desk/items", data={**base, "action": "add", "name": "肥皂",
                                                           "price_points": "很多", "key": "a1"})
    assert bad.status_code == 422 and re.search(r'id="e-price_points">单价应为整数', bad.text)
    added = console_client.post("/console/desk/items", follow_redirects=False, data={
        **base, "action": "add", "name": "肥皂", "price_points": "10", "unit_label": "块", "kind": "goods",
        "limit_quantity": "", "limit_period": "month", "key": "a2"})
    assert added.status_code == 303
    received = console_client.post("/console/desk/items", follow_redirects=False, data={
        **base, "action": "receive", "item_id": item_id, "quantity": "3", "source": "purchase", "note": "", "key": "r1"})
    assert received.status_code == 303
    refused = console_client.post("/console/desk/items", data={
        **base, "action": "count", "item_id": item_id, "counted": "7", "reason": "", "key": "c1"})
    assert refused.status_code == 422 and 'id="e-reason"' in refused.text
    counted = console_client.post("/console/desk/items", follow_redirects=False, data={
        **base, "action": "count", "item_id": item_id, "counted": "7", "reason": "破损一条", "key": "c2"})
    page = console_client.get(counted.headers["location"])
    assert "盘点已记录" in page.text and "肥皂" in page.text and "7 件" in page.text
