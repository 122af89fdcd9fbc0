"""Redemption desks (积分兑换点 / 爱心超市): catalogue, stock, redemption, reservations, reports.

Every write carries an Idempotency-Key: a desk that retries a redemption gets the first
receipt back and never redeems twice.  The desk page for tablets is served at /desk.
"""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.people.access import require_role
from ledger.people.tables import Volunteer
from ledger.redemption import desks, redeem as redemption, reservations, stock
from ledger.store.usecase import read

router = APIRouter(tags=["redemption desks"])


class DeskCreate(BaseModel):
    unit_id: int
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200, description="e.g. 东风村爱心超市")
    opening_weekdays: list[int] = Field(default_factory=lambda: [6], description="ISO weekdays, 1 = Monday")


class ItemCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    price_points: int
    kind: str = "goods"
    unit_label: str = Field(default="件", max_length=20)
    limit_quantity: int | None = None
    limit_period: str | None = Field(default=None, description="day, week, month or year")


class PriceChange(BaseModel):
    price_points: int


class StockReceive(BaseModel):
    item_id: int
    quantity: int
    source: str = Field(default="donation", description="donation, purchase, transfer or other")
    note: str = Field(default="", max_length=300, description="e.g. the donor")


class StockCount(BaseModel):
    item_id: int
    counted: int
    reason: str = Field(default="", max_length=300)


class FindVolunteer(BaseModel):
    number: str | None = Field(default=None, description="志愿者编号")
    qr_token: str | None = Field(default=None, description="the token in the volunteer's QR code")
    id_number: str | None = Field(default=None, description="身份证号 (looked up by its keyed hash)")


class LineIn(BaseModel):
    item_id: int
    quantity: int
    price: int = Field(description="the price in points the screen showed")


class RedeemPoints(BaseModel):
    volunteer_id: int
    items: list[LineIn]


class Reason(BaseModel):
    reason: str = Field(default="", max_length=400)


def _lines(body: RedeemPoints) -> list[redemption.Line]:
    return [redemption.Line(line.item_id, line.quantity, line.price) for line in body.items]


@router.post("/desks", status_code=status.HTTP_201_CREATED)
def create_desk(body: DeskCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                response: Response) -> dict:
    command = desks.CreateDesk(body.unit_id, body.code, body.name, tuple(body.opening_weekdays))
    return run_write(ctx, response, key=key, operation="desk.create", request=body.model_dump(),
                     fn=lambda s: desks.desk_public(desks.create_desk(s, user, command)))


@router.get("/desks")
def list_desks(ctx: CtxDep, user: CurrentUser) -> list[dict]:
    return read(ctx, lambda s: desks.list_desks(s, user))


@router.get("/desks/{desk_id}")
def get_desk(desk_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    def run(session):
        desk = desks.require_desk(session, user, desk_id)
        return {**desks.desk_public(desk), "next_opening_day": desks.next_opening_day(desk, ctx.today()).isoformat(),
                "today": ctx.today().isoformat()}

    return read(ctx, run)


@router.post("/desks/{desk_id}/items", status_code=status.HTTP_201_CREATED)
def add_item(desk_id: int, body: ItemCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
             response: Response) -> dict:
    command = desks.AddItem(**body.model_dump())
    return run_write(ctx, response, key=key, operation="desk.item", request={"desk_id": desk_id, **body.model_dump()},
                     fn=lambda s: desks.item_public(desks.add_item(s, user, desk_id, command)))


@router.get("/desks/{desk_id}/items")
def list_items(desk_id: int, ctx: CtxDep, user: CurrentUser) -> list[dict]:
    return read(ctx, lambda s: desks.list_items(s, user, desk_id))


@router.post("/desks/{desk_id}/items/{item_id}/price")
def set_price(desk_id: int, item_id: int, body: PriceChange, ctx: CtxDep, user: CurrentUser,
              key: IdempotencyKeyDep, response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="desk.price",
                     request={"desk_id": desk_id, "item_id": item_id, **body.model_dump()},
                     fn=lambda s: desks.item_public(desks.set_price(s, user, desk_id, item_id, body.price_points)))


@router.post("/desks/{desk_id}/stock/receive", status_code=status.HTTP_201_CREATED)
def receive(desk_id: int, body: StockReceive, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="desk.receive", request={"desk_id": desk_id, **body.model_dump()},
                     fn=lambda s: stock.movement_public(stock.receive(
                         s, user, desk_id, body.item_id, body.quantity, body.source, body.note, ctx.today())))


@router.post("/desks/{desk_id}/stock/count")
def count(desk_id: int, body: StockCount, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
          response: Response) -> dict:
    def run(session):
        moved = stock.count(session, user, desk_id, body.item_id, body.counted, body.reason, ctx.today())
        return {"adjusted": moved is not None, "movement": stock.movement_public(moved) if moved else None}

    return run_write(ctx, response, key=key, operation="desk.count", request={"desk_id": desk_id, **body.model_dump()},
                     fn=run)


@router.get("/desks/{desk_id}/stock/movements")
def movements(desk_id: int, ctx: CtxDep, user: CurrentUser, item_id: int | None = None,
              limit: int = Query(200, ge=1, le=1000)) -> list[dict]:
    return read(ctx, lambda s: stock.movements(s, user, desk_id, item_id, limit))


@router.post("/desks/{desk_id}/find-volunteer")
def find_volunteer(desk_id: int, body: FindVolunteer, ctx: CtxDep, user: CurrentUser) -> dict:
    """A read: the volunteer's summary (balance, star level). POST keeps the ID number out of URLs."""
    return read(ctx, lambda s: desks.find_volunteer(
        s, user, ctx.secret_key, desk_id, number=body.number, qr_token=body.qr_token,
        id_number=body.id_number, now=ctx.now(), today=ctx.today()))


@router.get("/me/desk-qr-token")
def my_qr_token(ctx: CtxDep, user: CurrentUser) -> dict:
    """A short-lived signed token for the signed-in volunteer to show at a desk as a QR code."""
    require_role(user, "volunteer")
    return desks.issue_qr_token(ctx.secret_key, user.volunteer_id, ctx.now())


@router.post("/desks/{desk_id}/redemptions", status_code=status.HTTP_201_CREATED)
def redeem(desk_id: int, body: RedeemPoints, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="desk.redeem", request={"desk_id": desk_id, **body.model_dump()},
                     fn=lambda s: redemption.redeem(s, user, desk_id, body.volunteer_id, _lines(body), ctx.today()))


@router.get("/desks/{desk_id}/redemptions")
def list_receipts(desk_id: int, ctx: CtxDep, user: CurrentUser, day: dt.date | None = None,
                  limit: int = Query(100, ge=1, le=500)) -> list[dict]:
    return read(ctx, lambda s: redemption.list_receipts(s, user, desk_id, day, limit))


@router.get("/desks/{desk_id}/redemptions/{number}")
def get_receipt(desk_id: int, number: str, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: redemption.receipt_public(s, redemption.require_receipt(s, user, desk_id, number)))


@router.post("/desks/{desk_id}/redemptions/{number}/cancel")
def cancel(desk_id: int, number: str, body: Reason, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="desk.cancel",
                     request={"desk_id": desk_id, "number": number, **body.model_dump()},
                     fn=lambda s: redemption.cancel(s, user, desk_id, number, body.reason, ctx.today()))


@router.post("/desks/{desk_id}/reservations", status_code=status.HTTP_201_CREATED)
def reserve(desk_id: int, body: RedeemPoints, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="desk.reserve", request={"desk_id": desk_id, **body.model_dump()},
                     fn=lambda s: reservations.reserve(s, user, desk_id, body.volunteer_id, _lines(body), ctx.today()))


@router.get("/desks/{desk_id}/reservations")
def list_reservations(desk_id: int, ctx: CtxDep, user: CurrentUser, status_: str | None = Query(None, alias="status"),
                      pickup_on: dt.date | None = None) -> list[dict]:
    def run(session):
        rows = reservations.list_reservations(session, user, desk_id, status_, pickup_on)
        for row in rows:  # the desk calls the volunteer by name at pickup
            volunteer = session.get(Volunteer, row["volunteer_id"])
            row.update(volunteer_name=volunteer.name, volunteer_number=volunteer.number)
        return rows

    return read(ctx, run)


@router.post("/desks/{desk_id}/reservations/{reservation_id}/pickup")
def pickup(desk_id: int, reservation_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="desk.pickup",
                     request={"desk_id": desk_id, "reservation_id": reservation_id},
                     fn=lambda s: reservations.pickup(s, user, desk_id, reservation_id, ctx.today()))


@router.post("/desks/{desk_id}/reservations/{reservation_id}/cancel")
def cancel_reservation(desk_id: int, reservation_id: int, body: Reason, ctx: CtxDep, user: CurrentUser,
                       key: IdempotencyKeyDep, response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="desk.reservation_cancel",
                     request={"desk_id": desk_id, "reservation_id": reservation_id, **body.model_dump()},
                     fn=lambda s: reservations.cancel_reservation(s, user, desk_id, reservation_id, body.reason,
                                                                  ctx.today()))


@router.get("/desks/{desk_id}/reconciliation/{day}")
def reconciliation(desk_id: int, day: dt.date, ctx: CtxDep, user: CurrentUser,
                   live: bool = Query(False, description="compute now instead of reading the job's report")) -> dict:
    """The day's reconciliation of this desk: the stored job report, or computed now with live=true."""
    return read(ctx, lambda s: stock.desk_reconciliation(s, user, desk_id, day, live=live))
