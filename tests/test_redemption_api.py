"""The desk over HTTP: every bad input gets a clear error naming the field and changes nothing."""
from __future__ import annotations

import uuid

from ledger.redemption.tables import Receipt, StockMovement
from tests import factories as f
from tests.test_redemption_support import desk_world, give_points


def h(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def key() -> str:
    return str(uuid.uuid4())


def _state(ctx, client, world, volunteer_id):
    balances = client.get(f"/volunteers/{volunteer_id}/balances", headers=h(world.admin_token)).json()
    items = client.get(f"/desks/{world.desk_id}/items", headers=h(world.operator_token)).json()
    with ctx.uow() as uow:
        receipts = uow.session.query(Receipt).filter_by(desk_id=world.desk_id).count()
        moves = uow.session.query(StockMovement).filter_by(desk_id=world.desk_id).count()
    return balances["points"], {i["id"]: i["stock"] for i in items}, receipts, moves


def test_redeem_retry_and_cancel_over_http(client, ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 8)  # 80 points
    rice = world.items["大米 5kg"]
    body = {"volunteer_id": volunteer_id, "items": [{"item_id": rice, "quantity": 1, "price": 50}]}
    k = key()
    first = client.post(f"/desks/{world.desk_id}/redemptions", json=body, headers=h(world.operator_token, k))
    assert first.status_code == 201, first.text
    again = client.post(f"/desks/{world.desk_id}/redemptions", json=body, headers=h(world.operator_token, k))
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    receipt = first.json()
    assert (receipt["points"], receipt["balance_after"]) == (50, 30)  # 80 − 50
    got = client.get(f"/desks/{world.desk_id}/redemptions/{receipt['number']}", headers=h(world.operator_token))
    assert got.json()["number"] == receipt["number"]
    cancel = client.post(f"/desks/{world.desk_id}/redemptions/{receipt['number']}/cancel",
                         json={"reason": "操作失误"}, headers=h(world.operator_token, key()))
    assert cancel.status_code == 200 and cancel.json()["balance_now"] == 80
    twice = client.post(f"/desks/{world.desk_id}/redemptions/{receipt['number']}/cancel",
                        json={"reason": "再次"}, headers=h(world.operator_token, key()))
    assert (twice.status_code, twice.json()["code"], twice.json()["field"]) == (409, "already_cancelled", "number")


def test_every_bad_redemption_names_the_field_and_changes_nothing(client, ctx):
    world = desk_world(ctx, items=(("大米 5kg", 50, 100), ("食用油", 30, 100), ("理发券", 20, 1)))
    other = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 8)  # 80 points
    rice, oil, haircut = world.items["大米 5kg"], world.items["食用油"], world.items["理发券"]
    before = _state(ctx, client, world, volunteer_id)

    def line(item_id, quantity=1, price=None):
        prices = {rice: 50, oil: 30, haircut: 20}
        return {"item_id": item_id, "quantity": quantity, "price": prices.get(item_id, 1) if price is None else price}

    cases = [
        ([line(987654321)], world.operator_token, 404, "not_found", "items[0].item_id"),  # unknown item
        ([line(other.items["食用油"], 1, 30)], world.operator_token, 404, "not_found", "items[0].item_id"),
        ([line(oil), line(rice, 0)], world.operator_token, 422, "invalid", "items[1].quantity"),  # zero
        ([line(rice, -1)], world.operator_token, 422, "invalid", "items[0].quantity"),  # negative
        ([line(rice, 1, 45)], world.operator_token, 409, "price_changed", "items[0].price"),  # shown 45
        ([line(rice, 2)], world.operator_token, 409, "insufficient_points", "items"),  # 100 > 80
        ([line(haircut, 2)], world.operator_token, 409, "insufficient_stock", "items[0].quantity"),
        ([line(oil)], other.operator_token, 403, "forbidden", "desk_id"),  # another desk's operator
        ([], world.operator_token, 422, "invalid", "items"),
    ]
    for items, token, status, code, field in cases:
        response = client.post(f"/desks/{world.desk_id}/redemptions",
                               json={"volunteer_id": volunteer_id, "items": items}, headers=h(token, key()))
        body = response.json()
        assert (response.status_code, body["code"], body["field"]) == (status, code, field), (items, body)
        assert body["message"]
    missing_key = client.post(f"/desks/{world.desk_id}/redemptions",
                              json={"volunteer_id": volunteer_id, "items": [line(oil)]},
                              headers=h(world.operator_token))
    assert missing_key.status_code == 422 and missing_key.json()["field"] == "Idempotency-Key"
    unknown_volunteer = client.post(f"/desks/{world.desk_id}/redemptions",
                                    json={"volunteer_id": 987654321, "items": [line(oil)]},
                                    headers=h(world.operator_token, key()))
    assert unknown_volunteer.status_code == 404 and unknown_volunteer.json()["field"] == "volunteer_id"
    assert _state(ctx, client, world, volunteer_id) == before


def test_price_change_between_screen_and_submit_is_refused(client, ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 8)
    oil = world.items["食用油"]
    shown = client.get(f"/desks/{world.desk_id}/items", headers=h(world.operator_token)).json()
    price = next(i["price_points"] for i in shown if i["id"] == oil)
    changed = client.post(f"/desks/{world.desk_id}/items/{oil}/price", json={"price_points": 35},
                          headers=h(world.admin_token, key()))
    assert changed.status_code == 200 and changed.json()["price_points"] == 35
    before = _state(ctx, client, world, volunteer_id)
    response = client.post(f"/desks/{world.desk_id}/redemptions",
                           json={"volunteer_id": volunteer_id, "items": [{"item_id": oil, "quantity": 1, "price": price}]},
                           headers=h(world.operator_token, key()))
    assert response.status_code == 409 and response.json()["details"]["price_points"] == 35
    assert _state(ctx, client, world, volunteer_id) == before


def test_stock_in_and_count_over_http_record_who_and_why(client, ctx):
    world = desk_world(ctx)
    oil = world.items["食用油"]
    received = client.post(f"/desks/{world.desk_id}/stock/receive",
                           json={"item_id": oil, "quantity": 20, "source": "purchase", "note": "镇财政采购"},
                           headers=h(world.operator_token, key()))
    assert received.status_code == 201 and received.json()["stock_after"] == 120
    assert received.json()["actor"] == world.operator.username
    for body, field in (({"item_id": oil, "quantity": 0}, "quantity"),
                        ({"item_id": oil, "quantity": 5, "source": "stolen"}, "source"),
                        ({"item_id": 987654321, "quantity": 5}, "item_id")):
        bad = client.post(f"/desks/{world.desk_id}/stock/receive", json=body, headers=h(world.operator_token, key()))
        assert bad.json()["field"] == field, bad.text
    counted = client.post(f"/desks/{world.desk_id}/stock/count",
                          json={"item_id": oil, "counted": 118, "reason": "破损 2 桶"},
                          headers=h(world.operator_token, key()))
    assert counted.json()["adjusted"] and counted.json()["movement"]["quantity"] == -2
    book = client.get(f"/desks/{world.desk_id}/stock/movements?item_id={oil}", headers=h(world.operator_token)).json()
    assert [m["kind"] for m in book] == ["adjust", "receive", "receive"]
    assert book[0]["reason"] == "破损 2 桶"


def test_a_volunteer_gets_a_qr_token_and_the_desk_finds_them_with_it(client, ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 2)
    _, volunteer_token = f.user(ctx, "volunteer", volunteer_id=volunteer_id)
    token = client.get("/me/desk-qr-token", headers=h(volunteer_token)).json()["token"]
    found = client.post(f"/desks/{world.desk_id}/find-volunteer", json={"qr_token": token},
                        headers=h(world.operator_token))
    assert found.status_code == 200 and found.json()["points"] == 20
    assert client.get("/me/desk-qr-token", headers=h(world.operator_token)).status_code == 403
    bad = client.post(f"/desks/{world.desk_id}/find-volunteer", json={"qr_token": "vq1.1.2.x"},
                      headers=h(world.operator_token))
    assert bad.status_code == 422 and bad.json()["field"] == "qr_token"
