"""Worked story: a 爱心超市 market day, end to end over HTTP, reconciled with no difference.

Day 0: goods come in; 王芳 reserves rice for herself, the admin reserves oil for 赵强.
Day 1 (market day): 李明 redeems oil and a haircut; 王芳 picks up her rice and takes oil,
which the desk cancels (拿错了); 赵强 does not come.
Day 2: the release job returns 赵强's hold; the reconciliation of day 1 shows no difference;
`verify` passes.
"""
from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager

from fastapi.testclient import TestClient

from api.app import create_app
from jobs import runner
from jobs.redemption import JOBS, RECONCILE_JOB, RELEASE_JOB
from ledger.book.integrity import verify
from ledger.store.uow import Context
from tests import factories as f
from tests.test_redemption_support import SERVICE_DAY, DeskWorld, give_points


def h(token: str, key: bool = False) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers


def on_day(ctx: Context, days: int) -> Context:
    return Context(engine=ctx.engine, secret_key=ctx.secret_key, deployment_id=ctx.deployment_id,
                   clock=lambda: ctx.now() + dt.timedelta(days=days), options=ctx.options)


@contextmanager
def desk_client(ctx: Context):
    with TestClient(create_app(ctx)) as client:
        yield client


def test_a_market_day_from_stock_in_to_a_clean_reconciliation(fresh_ctx):
    day0 = fresh_ctx
    day1, day2 = on_day(day0, 1), on_day(day0, 2)
    market_day = day1.today()
    units = f.tree(day0)
    recorder, _ = f.user(day0, "unit_admin", units["station_a"])
    approver, _ = f.user(day0, "unit_admin", units["institute"])
    admin, admin_token = f.user(day0, "unit_admin", units["institute"])
    world = DeskWorld(units, 0, "", None, "", admin, admin_token, {}, recorder, approver)
    wang, li, zhao = (f.volunteer(day0, units["station_a"], name=n) for n in ("王芳", "李明", "赵强"))
    for volunteer_id in (wang, li, zhao):
        give_points(world, day0, volunteer_id, 8, SERVICE_DAY)  # 8 h × 10 = 80 points each

    with desk_client(day0) as c:
        desk = c.post("/desks", json={"unit_id": units["station_a"], "code": "DF-AXCS", "name": "东风村爱心超市",
                                      "opening_weekdays": [market_day.isoweekday()]}, headers=h(admin_token, True))
        assert desk.status_code == 201, desk.text
        desk_id = desk.json()["id"]
        assert c.get(f"/desks/{desk_id}", headers=h(admin_token)).json()["next_opening_day"] == market_day.isoformat()
        items = {}
        for name, price, kind, quantity in (("大米 5kg", 50, "goods", 10), ("食用油", 30, "goods", 10),
                                            ("理发服务", 20, "service", 5)):
            made = c.post(f"/desks/{desk_id}/items", json={"name": name, "price_points": price, "kind": kind},
                          headers=h(admin_token, True))
            items[name] = made.json()["id"]
            got = c.post(f"/desks/{desk_id}/stock/receive", headers=h(admin_token, True),
                         json={"item_id": items[name], "quantity": quantity, "source": "donation", "note": "爱心企业"})
            assert got.status_code == 201, got.text
        _, operator_token = f.user(day0, "desk_operator", units["station_a"], desk_id=desk_id)
        _, wang_token = f.user(day0, "volunteer", volunteer_id=wang)
        rice, oil, haircut = items["大米 5kg"], items["食用油"], items["理发服务"]
        wang_reserved = c.post(f"/desks/{desk_id}/reservations", headers=h(wang_token, True), json={
            "volunteer_id": wang, "items": [{"item_id": rice, "quantity": 1, "price": 50}]})
        assert wang_reserved.status_code == 201, wang_reserved.text
        assert wang_reserved.json()["pickup_on"] == market_day.isoformat()
        zhao_reserved = c.post(f"/desks/{desk_id}/reservations", headers=h(admin_token, True), json={
            "volunteer_id": zhao, "items": [{"item_id": oil, "quantity": 1, "price": 30}]})
        balances = c.get(f"/volunteers/{wang}/balances", headers=h(admin_token)).json()
        assert (balances["points"], balances["points_held"]) == (30, 50)  # 80 − 50 held

    with desk_client(day1) as c:
        li_number = c.get(f"/volunteers/{li}", headers=h(admin_token)).json()["number"]
        found = c.post(f"/desks/{desk_id}/find-volunteer", json={"number": li_number}, headers=h(operator_token))
        assert (found.json()["points"], found.json()["star_level"]) == (80, 0)
        li_receipt = c.post(f"/desks/{desk_id}/redemptions", headers=h(operator_token, True), json={
            "volunteer_id": li, "items": [{"item_id": oil, "quantity": 1, "price": 30},
                                          {"item_id": haircut, "quantity": 1, "price": 20}]}).json()
        assert (li_receipt["points"], li_receipt["balance_after"]) == (50, 30)  # 30 + 20; 80 − 50
        picked = c.post(f"/desks/{desk_id}/reservations/{wang_reserved.json()['id']}/pickup",
                        headers=h(operator_token, True))
        assert picked.status_code == 200, picked.text
        assert (picked.json()["points"], picked.json()["balance_after"]) == (50, 30)  # from the hold
        wrong = c.post(f"/desks/{desk_id}/redemptions", headers=h(operator_token, True), json={
            "volunteer_id": wang, "items": [{"item_id": oil, "quantity": 1, "price": 30}]}).json()
        assert wrong["balance_after"] == 0
        cancelled = c.post(f"/desks/{desk_id}/redemptions/{wrong['number']}/cancel", json={"reason": "拿错了"},
                           headers=h(operator_token, True))
        assert cancelled.json()["balance_now"] == 30
        assert c.get(f"/desks/{desk_id}/reconciliation/{market_day}", headers=h(operator_token)).status_code == 404

    release = next(j for j in JOBS if j.name == RELEASE_JOB)
    reconcile = next(j for j in JOBS if j.name == RECONCILE_JOB)
    after = dt.datetime.combine(day2.today(), dt.time(0, 40))
    assert market_day.isoformat() in runner.catch_up(day2, release, after)
    assert market_day.isoformat() in runner.catch_up(day2, reconcile, after)

    with desk_client(day2) as c:
        zhao_now = c.get(f"/volunteers/{zhao}/balances", headers=h(admin_token)).json()
        assert (zhao_now["points"], zhao_now["points_held"]) == (80, 0)
        assert c.get(f"/desks/{desk_id}/reservations?status=released", headers=h(operator_token)).json()[0]["id"] \
            == zhao_reserved.json()["id"]
        report = c.get(f"/desks/{desk_id}/reconciliation/{market_day}", headers=h(operator_token)).json()
        # ledger: 李明 50 + 王芳's pickup 50 + 王芳's oil 30 − its cancellation 30 = 100 points
        assert report["source"] == "job" and report["ok"] and report["difference"] == 0
        assert (report["ledger_points"], report["stock_points"], report["items_out"]) == (100, 100, 3)
        stock = {i["name"]: i["stock"] for i in c.get(f"/desks/{desk_id}/items", headers=h(operator_token)).json()}
        # rice 10 − 1; oil 10 − 1 (李明) − 1 + 1 (王芳, cancelled) − 1 + 1 (赵强, released); haircut 5 − 1
        assert stock == {"大米 5kg": 9, "食用油": 9, "理发服务": 4}
        assert [c.get(f"/volunteers/{v}/balances", headers=h(admin_token)).json()["points"]
                for v in (wang, li, zhao)] == [30, 30, 80]
    with day2.uow() as uow:
        checked = verify(uow.session)
    assert checked.ok, checked.problems
