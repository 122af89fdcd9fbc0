"""Orders (点单 → 派单 → 接单 → 评单): the resident's public endpoints and the staff's queues.

Public endpoints (no token) are limited per address by api.middleware; ordering also answers
a challenge and is limited per phone and per address in the domain.  The resident's 评单
link carries the order's token; it is derived from the order (never stored), so a retried
submission answers the same link.
"""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.people.challenge import issue_challenge
from ledger.people.volunteers import keyed_hash_or_none
from ledger.service import order_feedback, order_reports, orders
from ledger.service.order_rules import rating_token
from ledger.store.uow import CHINA
from ledger.store.usecase import read

router = APIRouter(tags=["orders (点单)"])


class OrderCreate(BaseModel):
    unit_id: int = Field(description="the unit (站/点) where the service is wanted")
    kind: str = Field(min_length=1, max_length=40, description="理论宣讲, 教育服务, 文化服务, 科技科普, 健身体育, 文明创建, …")
    title: str = Field(min_length=1, max_length=200, description="服务需求")
    place: str = Field(min_length=1, max_length=200, description="服务地点")
    wanted_at: dt.datetime = Field(description="local time (Asia/Shanghai), e.g. 2026-11-20T09:00")
    contact_name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=40, description="联系电话: stored only hashed and masked")
    detail: str = Field(default="", max_length=1000)


class PublicOrderCreate(OrderCreate):
    challenge: str = Field(max_length=200, description="from GET /public/challenge")
    challenge_answer: str = Field(max_length=10)


class Dispatch(BaseModel):
    deadline: dt.datetime = Field(description="接单期限 (local time when no zone is given)")
    team_id: int | None = None
    unit_id: int | None = None
    note: str = Field(default="", max_length=400)


class Take(BaseModel):
    category: str | None = None
    held_on: dt.date | None = None
    title: str | None = Field(default=None, max_length=200)
    organiser: str = Field(default="", max_length=100)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=400)


class Rating(BaseModel):
    token: str = Field(max_length=100, description="the token of the resident's 评单 link")
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=400)


class Complaint(BaseModel):
    token: str = Field(max_length=100)
    text: str = Field(min_length=1, max_length=400)


class Resolution(BaseModel):
    upheld: bool
    note: str = Field(min_length=1, max_length=400)


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(CHINA).replace(tzinfo=None) if value.tzinfo else value


def _command(body: OrderCreate) -> orders.SubmitOrder:
    fields = body.model_dump(include=set(OrderCreate.model_fields))
    return orders.SubmitOrder(**{**fields, "wanted_at": _local(body.wanted_at)})


def _fingerprint(ctx, body: BaseModel) -> dict:
    return {**body.model_dump(mode="json"), "phone": keyed_hash_or_none(ctx.secret_key, getattr(body, "phone", None))}


def _with_link(ctx, order: dict) -> dict:
    token = rating_token(ctx.secret_key, order["id"])
    return {"order": order, "rating_token": token, "rating_path": f"/order/{order['id']}?t={token}"}


@router.get("/public/challenge")
def challenge(ctx: CtxDep) -> dict:
    """A small sum to answer with the public forms (人机验证), valid for ten minutes."""
    return issue_challenge(ctx.secret_key, ctx.now())


@router.get("/public/units")
def public_units(ctx: CtxDep) -> list[dict]:
    """The units a resident may order at (names only)."""
    return read(ctx, orders.public_units)


@router.get("/public/service-kinds")
def service_kinds(ctx: CtxDep, unit_id: int) -> list[str]:
    """The kinds of service a resident may order at a unit."""
    return read(ctx, lambda s: orders.kinds_at(s, unit_id, ctx.today()))


@router.post("/public/orders", status_code=status.HTTP_201_CREATED)
def submit_public(body: PublicOrderCreate, request: Request, ctx: CtxDep, key: IdempotencyKeyDep,
                  response: Response) -> dict:
    """点单 by a resident; answers the order and the 评单 link to keep."""
    address = request.client.host if request.client else None
    order = run_write(ctx, response, key=key, operation="order.submit.public", request=_fingerprint(ctx, body),
                      fn=lambda s: orders.submit_order(s, ctx.secret_key, _command(body), now=ctx.now(),
                                                       client_address=address, challenge=body.challenge,
                                                       answer=body.challenge_answer,
                                                       per_address=int(ctx.options.get("orders_per_address_per_hour")
                                                                       or orders.PER_ADDRESS_PER_HOUR)))
    return _with_link(ctx, order)


@router.get("/public/orders/{order_id}")
def resident_view(order_id: int, ctx: CtxDep, token: str = Query("", max_length=100)) -> dict:
    """The resident's view of their order (with the token of their link)."""
    return read(ctx, lambda s: order_feedback.resident_view(s, ctx.secret_key, order_id, token))


@router.post("/public/orders/{order_id}/rating")
def rate(order_id: int, body: Rating, ctx: CtxDep, key: IdempotencyKeyDep, response: Response) -> dict:
    """评单 by the resident who ordered: 1–5 and a comment; reaches the activity's service records."""
    request = {"order_id": order_id, **body.model_dump(), "token": keyed_hash_or_none(ctx.secret_key, body.token)}
    return run_write(ctx, response, key=key, operation="order.rate", request=request,
                     fn=lambda s: order_feedback.rate_order(s, ctx.secret_key, order_id, body.token, body.rating,
                                                            body.comment, ctx.now(), ctx.today()))


@router.post("/public/orders/{order_id}/complaint")
def complain(order_id: int, body: Complaint, ctx: CtxDep, key: IdempotencyKeyDep, response: Response) -> dict:
    """投诉 by the resident who ordered; the center resolves it."""
    request = {"order_id": order_id, **body.model_dump(), "token": keyed_hash_or_none(ctx.secret_key, body.token)}
    return run_write(ctx, response, key=key, operation="order.complain", request=request,
                     fn=lambda s: order_feedback.complain(s, ctx.secret_key, order_id, body.token, body.text,
                                                          ctx.now()))


@router.post("/orders", status_code=status.HTTP_201_CREATED)
def submit_for_resident(body: OrderCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                        response: Response) -> dict:
    """点单 by a station admin on a resident's behalf (no challenge); answers the 评单 link for them."""
    order = run_write(ctx, response, key=key, operation="order.submit.staff", request=_fingerprint(ctx, body),
                      fn=lambda s: orders.submit_order(s, ctx.secret_key, _command(body), now=ctx.now(),
                                                       principal=user))
    return _with_link(ctx, order)


@router.get("/orders")
def queue(ctx: CtxDep, user: CurrentUser, queue_: str = Query("all", alias="queue"),
          limit: int = Query(200, ge=1, le=500)) -> list[dict]:
    """A role's queue: dispatch (待派单), take (待接单), complete (待完成), complaints (投诉), all."""
    return read(ctx, lambda s: orders.list_orders(s, user, queue_, limit))


@router.get("/orders/report")
def report(ctx: CtxDep, user: CurrentUser, unit_id: int, date_from: dt.date, date_to: dt.date) -> dict:
    """Orders received, dispatched, taken, completed, rated per unit; response time; satisfaction."""
    return read(ctx, lambda s: order_reports.order_report(s, user, unit_id, date_from, date_to))


@router.get("/orders/{order_id}")
def get_order(order_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: orders.get_order(s, user, order_id))


def _step(ctx, response, key, operation: str, order_id: int, body: BaseModel | None, fn) -> dict:
    request = {"order_id": order_id, **(body.model_dump(mode="json") if body else {})}
    return run_write(ctx, response, key=key, operation=operation, request=request, fn=fn)


@router.post("/orders/{order_id}/dispatch")
def dispatch(order_id: int, body: Dispatch, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
             response: Response) -> dict:
    """派单 to a team or a station with a take-up deadline (center or institute)."""
    command = orders.DispatchOrder(**body.model_dump())
    return _step(ctx, response, key, "order.dispatch", order_id, body,
                 lambda s: orders.dispatch_order(s, user, order_id, command, ctx.now()))


@router.post("/orders/{order_id}/take")
def take(order_id: int, body: Take, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
         response: Response) -> dict:
    """接单: the order becomes an activity of the team or station it was dispatched to."""
    return _step(ctx, response, key, "order.take", order_id, body,
                 lambda s: orders.take_order(s, user, order_id, orders.TakeOrder(**body.model_dump()), ctx.now()))


@router.post("/orders/{order_id}/decline")
def decline(order_id: int, body: Reason, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    return _step(ctx, response, key, "order.decline", order_id, body,
                 lambda s: orders.decline_order(s, user, order_id, body.reason, ctx.now()))


@router.post("/orders/{order_id}/complete")
def complete(order_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    return _step(ctx, response, key, "order.complete", order_id, None,
                 lambda s: orders.complete_order(s, user, order_id, ctx.now()))


@router.post("/orders/{order_id}/cancel")
def cancel(order_id: int, body: Reason, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    return _step(ctx, response, key, "order.cancel", order_id, body,
                 lambda s: orders.cancel_order(s, user, order_id, body.reason, ctx.now()))


@router.post("/orders/{order_id}/complaint/resolve")
def resolve(order_id: int, body: Resolution, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    """The center resolves an open complaint, upheld (the policy's effect) or not."""
    return _step(ctx, response, key, "order.complaint.resolve", order_id, body,
                 lambda s: order_feedback.resolve_complaint(s, user, order_id, body.upheld, body.note, ctx.now(),
                                                            ctx.today()))
