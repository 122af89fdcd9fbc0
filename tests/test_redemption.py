"""Redemption at a desk, worked by hand: points and stock move together, exactly once."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from ledger.book.accounts import balance
from ledger.errors import (
    AlreadyCancelled,
    Forbidden,
    InsufficientPoints,
    LimitReached,
    UnknownVolunteer,
    ValidationFailed,
)
from ledger.redemption import desks, redeem as redemption, stock
from ledger.redemption.redeem import Line
from ledger.redemption.tables import Receipt, StockMovement
from ledger.store.uow import Context
from ledger.store.usecase import write
from tests import factories as f
from tests.test_redemption_support import desk_world, give_points, stock_of


def _redeem(ctx, world, volunteer_id, lines, principal=None):
    with ctx.uow() as uow:
        receipt = redemption.redeem(uow.session, principal or world.operator, world.desk_id, volunteer_id,
                                    lines, ctx.today())
        uow.commit()
    return receipt


def test_a_volunteer_redeems_rice_and_oil_and_the_receipt_shows_the_balance_after(ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 10)  # 10 h × 10 points = 100 points
    rice, oil = world.items["大米 5kg"], world.items["食用油"]
    receipt = _redeem(ctx, world, volunteer_id, [Line(rice, 1, 50), Line(oil, 1, 30)])
    # 1 × 50 + 1 × 30 = 80 points; 100 − 80 = 20 left
    assert receipt["points"] == 80 and receipt["balance_after"] == 20
    assert receipt["number"].startswith(world.desk_code + "-")
    assert [(i["name"], i["quantity"], i["points"]) for i in receipt["items"]] == [
        ("大米 5kg", 1, 50), ("食用油", 1, 30)]
    assert (stock_of(ctx, rice), stock_of(ctx, oil)) == (99, 99)
    with ctx.uow() as uow:
        s = uow.session
        assert balance(s, "volunteer_points", volunteer_id) == 20
        assert balance(s, "desk_points_redeemed", world.desk_id) == 80
        moved = s.query(StockMovement).filter_by(receipt_id=s.query(Receipt.id).filter_by(
            number=receipt["number"]).scalar_subquery()).all()
        assert sorted((m.kind, m.quantity, m.points) for m in moved) == [("redeem", -1, 30), ("redeem", -1, 50)]


def test_a_retried_key_returns_the_first_receipt_and_redeems_once(ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 10)
    rice = world.items["大米 5kg"]
    key = f.ref("redeem")

    def attempt():
        return write(ctx, key=key, operation="desk.redeem", request={"v": volunteer_id, "item": rice},
                     fn=lambda s: redemption.redeem(s, world.operator, world.desk_id, volunteer_id,
                                                    [Line(rice, 1, 50)], ctx.today()))

    first, replayed_first = attempt()
    second, replayed_second = attempt()
    assert second == first and (replayed_first, replayed_second) == (False, True)
    assert stock_of(ctx, rice) == 99
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_points", volunteer_id) == 50
        assert uow.session.query(Receipt).filter_by(volunteer_id=volunteer_id).count() == 1


def test_cancelling_returns_points_and_stock_and_a_second_cancel_is_refused(ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 10)
    rice = world.items["大米 5kg"]
    receipt = _redeem(ctx, world, volunteer_id, [Line(rice, 2, 50)])  # 2 × 50 = 100 points, all of them
    assert receipt["balance_after"] == 0
    with ctx.uow() as uow:
        cancelled = redemption.cancel(uow.session, world.operator, world.desk_id, receipt["number"],
                                      "登记错人", ctx.today())
        uow.commit()
    assert cancelled["status"] == "cancelled" and cancelled["balance_now"] == 100
    assert stock_of(ctx, rice) == 100
    with ctx.uow() as uow, pytest.raises(AlreadyCancelled) as caught:
        redemption.cancel(uow.session, world.operator, world.desk_id, receipt["number"], "again", ctx.today())
    assert caught.value.field == "number"
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_points", volunteer_id) == 100
        assert balance(uow.session, "desk_points_redeemed", world.desk_id) == 0


def test_a_redemption_of_an_earlier_day_is_cancelled_only_by_a_unit_admin(ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 10)
    receipt = _redeem(ctx, world, volunteer_id, [Line(world.items["食用油"], 1, 30)])
    tomorrow = Context(engine=ctx.engine, secret_key=ctx.secret_key,
                       clock=lambda: ctx.now() + dt.timedelta(days=1))
    with tomorrow.uow() as uow, pytest.raises(Forbidden) as caught:
        redemption.cancel(uow.session, world.operator, world.desk_id, receipt["number"], "次日发现", tomorrow.today())
    assert caught.value.field == "number"
    with tomorrow.uow() as uow:
        cancelled = redemption.cancel(uow.session, world.admin, world.desk_id, receipt["number"], "次日发现",
                                      tomorrow.today())
        uow.commit()
    assert cancelled["cancelled_by"] == world.admin.username and cancelled["balance_now"] == 100


def test_an_operator_of_another_desk_is_refused(ctx):
    world = desk_world(ctx)
    other = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 10)
    with ctx.uow() as uow, pytest.raises(Forbidden) as caught:
        redemption.redeem(uow.session, other.operator, world.desk_id, volunteer_id,
                          [Line(world.items["食用油"], 1, 30)], ctx.today())
    assert caught.value.field == "desk_id"


def test_a_limit_per_volunteer_per_month_is_kept(ctx):
    world = desk_world(ctx, limits={"食用油": (2, "month")})
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 20)  # 200 points
    oil = world.items["食用油"]
    _redeem(ctx, world, volunteer_id, [Line(oil, 2, 30)])
    with ctx.uow() as uow, pytest.raises(LimitReached) as caught:
        redemption.redeem(uow.session, world.operator, world.desk_id, volunteer_id, [Line(oil, 1, 30)],
                          ctx.today())
    assert caught.value.field == "items[0].quantity" and caught.value.details["taken"] == 2
    assert stock_of(ctx, oil) == 98


def test_points_cannot_go_below_zero(ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 4)  # 40 points; rice costs 50
    with ctx.uow() as uow, pytest.raises(InsufficientPoints) as caught:
        redemption.redeem(uow.session, world.operator, world.desk_id, volunteer_id,
                          [Line(world.items["大米 5kg"], 1, 50)], ctx.today())
    assert caught.value.field == "items" and caught.value.details == {"needed": 50, "balance": 40}
    assert stock_of(ctx, world.items["大米 5kg"]) == 100


def test_a_volunteer_is_found_by_number_qr_token_or_id_card_number(ctx):
    world = desk_world(ctx)
    id_number = f.random_id_number("19800202")
    volunteer_id = f.volunteer(ctx, world.units["station_a"], name="李四", id_number=id_number)
    give_points(world, ctx, volunteer_id, 3)
    token = desks.issue_qr_token(ctx.secret_key, volunteer_id, ctx.now())["token"]
    with ctx.uow() as uow:
        s = uow.session
        number = s.get(__import__("ledger.people.tables", fromlist=["Volunteer"]).Volunteer, volunteer_id).number
        for how in ({"number": number}, {"qr_token": token}, {"id_number": id_number}):
            found = desks.find_volunteer(s, world.operator, ctx.secret_key, world.desk_id, now=ctx.now(),
                                         today=ctx.today(), **how)
            assert (found["volunteer"]["id"], found["points"], found["star_level"]) == (volunteer_id, 30, 0)
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        with pytest.raises(ValidationFailed) as caught:
            desks.find_volunteer(s, world.operator, ctx.secret_key, world.desk_id, qr_token=tampered,
                                 now=ctx.now(), today=ctx.today())
        assert caught.value.field == "qr_token"
        with pytest.raises(ValidationFailed) as caught:
            desks.find_volunteer(s, world.operator, ctx.secret_key, world.desk_id, qr_token=token,
                                 now=ctx.now() + dt.timedelta(minutes=11), today=ctx.today())
        assert caught.value.field == "qr_token" and "expired" in caught.value.message
        with pytest.raises(UnknownVolunteer) as caught:
            desks.find_volunteer(s, world.operator, ctx.secret_key, world.desk_id, number="V000",
                                 now=ctx.now(), today=ctx.today())
        assert caught.value.field == "number"


def test_a_stock_count_that_differs_is_an_adjustment_with_a_reason(ctx):
    world = desk_world(ctx)
    rice = world.items["大米 5kg"]
    with ctx.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            stock.count(uow.session, world.operator, world.desk_id, rice, 97, "", ctx.today())
        assert caught.value.field == "reason"
    with ctx.uow() as uow:
        moved = stock.count(uow.session, world.operator, world.desk_id, rice, 97, "受潮损坏 3 袋", ctx.today())
        uow.commit()
    assert (moved.kind, moved.quantity, moved.stock_after, moved.actor) == (
        "adjust", -3, 97, world.operator.username)
    with ctx.uow() as uow:
        assert stock.stock_book_differences(uow.session, world.desk_id) == []
        assert stock.count(uow.session, world.operator, world.desk_id, rice, 97, "", ctx.today()) is None


def test_the_receipt_is_a_dataclass_free_json_dict(ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 5)
    receipt = _redeem(ctx, world, volunteer_id, [Line(world.items["食用油"], 1, 30)])
    import json

    assert json.loads(json.dumps(receipt)) == receipt
    assert not any(dataclasses.is_dataclass(v) for v in receipt.values())
