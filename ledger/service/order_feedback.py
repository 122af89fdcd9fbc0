"""评单 and 投诉: the resident who ordered rates the service; complaints resolved by the center.

The resident proves they ordered it with the order's token (the link they were given,
`order_rules.rating_token`).  A rating reaches every posted service record of the order's
activity through `ratings.rate_record` (the policy's rating multiplier, its own transaction
per record).  A complaint is recorded as an event; the center resolves it, upheld or not;
upheld, `ratings.rate_record(complaint_upheld=True)` applies the policy's effect to each record.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import Conflict, Forbidden, ValidationFailed
from ledger.people.access import Principal, require_role
from ledger.people.tables import Unit
from ledger.service import order_rules as rules
from ledger.service.orders import RESIDENT, append_event, load_order, order_public, require_order
from ledger.service.ratings import RateService, rate_record
from ledger.service.tables import OrderEvent, ServiceOrder, ServiceRecord

NOT_YOURS = "评单链接无效：您不是该服务的点单人，不能评价或投诉 (this link is not for this order)"


def _resident_order(session: Session, secret: bytes, order_id: int, token: str | None,
                    lock: bool = False) -> tuple[ServiceOrder, rules.OrderState]:
    """The order when `token` is its 评单 token; one refusal for a wrong token and a missing order."""
    if not rules.token_matches(secret, order_id, token):
        raise Forbidden(NOT_YOURS, field="token")
    return load_order(session, order_id, lock=lock)


def resident_view(session: Session, secret: bytes, order_id: int, token: str | None) -> dict:
    """What the resident sees of their order: its state and steps, without staff names."""
    order, state = _resident_order(session, secret, order_id, token)
    public = order_public(order, state)
    return {key: public[key] for key in ("id", "kind", "title", "place", "wanted_at", "state", "state_name",
                                         "rating", "complaint_open", "phone_masked", "contact_name")}


def _loop_principal(order_id: int) -> Principal:
    # The posting is made by the ledger on the resident's behalf; scope was proven by the token.
    return Principal(user_id=None, username=f"评单:点单{order_id}", role="admin")


def _posted_records(session: Session, activity_id: int) -> list[ServiceRecord]:
    return list(session.execute(select(ServiceRecord).where(
        ServiceRecord.activity_id == activity_id, ServiceRecord.status == "posted")
        .order_by(ServiceRecord.id)).scalars())


def rate_order(session: Session, secret: bytes, order_id: int, token: str | None, rating: int,
               comment: str, now: dt.datetime, today: dt.date) -> dict:
    """评单 (1–5 and a comment) by the resident; the rating reaches the activity's posted records."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationFailed("评分须为 1 到 5 的整数 (rating must be a whole number from 1 to 5)", field="rating")
    order, state = _resident_order(session, secret, order_id, token, lock=True)
    if state.state == "rated":
        raise Conflict("该服务已经评价过了 (this service was already rated)", field="rating")
    if state.state != "completed":
        raise Conflict("服务尚未完成，暂不能评价 (the service is not completed yet)", field="state")
    append_event(session, order.id, "rated", state, now=now, actor=RESIDENT, rating=rating,
                 reason=(comment or "").strip()[:400])
    posted = []
    for record in _posted_records(session, state.activity_id):
        if record.rating is None:
            result = rate_record(session, _loop_principal(order.id), record.id, RateService(rating=rating), today)
            posted.append({"record_id": record.id, **result["rating"]})
    return {"order": order_public(*load_order(session, order.id)), "records": posted}


def complain(session: Session, secret: bytes, order_id: int, token: str | None, text: str,
             now: dt.datetime) -> dict:
    """投诉 by the resident who ordered, after the service; the center resolves it."""
    if not text or not text.strip():
        raise ValidationFailed("请写明投诉内容 (a complaint needs a text)", field="text")
    order, state = _resident_order(session, secret, order_id, token, lock=True)
    if state.complaint_open:
        raise Conflict("已有一件投诉正在处理中 (a complaint is already open)", field="text")
    append_event(session, order.id, "complained", state, now=now, actor=RESIDENT, reason=text.strip()[:400])
    return order_public(*load_order(session, order.id))


def resolve_complaint(session: Session, principal: Principal, order_id: int, upheld: bool, note: str,
                      now: dt.datetime, today: dt.date) -> dict:
    """The center decides an open complaint; upheld, the policy's effect reaches each record."""
    require_role(principal, "admin", "unit_admin")
    if principal.role == "unit_admin" and session.get(Unit, principal.unit_id).kind != "center":
        raise Forbidden("投诉由中心管理员处理 (complaints are resolved by the center)", field="role")
    if not note or not note.strip():
        raise ValidationFailed("请填写处理意见 (a resolution needs a note)", field="note")
    order, state = require_order(session, principal, order_id, lock=True)
    if not state.complaint_open:
        raise Conflict("该点单没有待处理的投诉 (no open complaint)", field="order_id")
    # resolving follows an open complaint in any state, so `append_event`'s table does not apply
    session.add(OrderEvent(order_id=order.id, kind="complaint_resolved", at=now, actor=principal.username,
                           actor_user_id=principal.user_id, upheld=bool(upheld), reason=note.strip()[:400]))
    effects = []
    if upheld:
        for record in _posted_records(session, state.activity_id):
            if not record.complaint_upheld:
                result = rate_record(session, principal, record.id, RateService(complaint_upheld=True), today)
                effects.append({"record_id": record.id, **result["complaint"]})
    session.flush()
    return {"order": order_public(*load_order(session, order.id)), "records": effects}
