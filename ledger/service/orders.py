"""Orders (点单) and their way through 派单 and 接单: submit, dispatch, take or decline, complete.

A resident orders a kind of service at a unit from the public page (a challenge to answer,
limits per phone and per address), or a station admin orders on their behalf.  The center
or an institute dispatches it to a team or a station with a take-up deadline (接单期限); the
team takes it (the order becomes an activity) or declines with a reason.  Every step is an
appended `OrderEvent` with who and when; the order row never changes, and its state is
derived from the events (`order_rules.derive_state`).  Each step locks the order row, so
two admins acting at once append one step, not two.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from ledger.errors import Conflict, Forbidden, NotFound, TooManyAttempts, UnknownUnit, ValidationFailed
from ledger.incentives.pricing import policy_in_force
from ledger.people.access import Principal, in_scope, path_in_scope, require_role, require_unit, unit_path
from ledger.people.challenge import challenge_digest, check_challenge
from ledger.people.idcard import keyed_hash, mask_phone, validate_phone
from ledger.people.org import UNIT_KIND_NAMES
from ledger.people.tables import Team, Unit
from ledger.service import order_rules as rules
from ledger.service.activities import CreateActivity, create_activity
from ledger.service.tables import Activity, OrderEvent, ServiceOrder, ServiceRecord
from ledger.store.uow import CHINA

PER_PHONE_PER_DAY = 3
PER_ADDRESS_PER_HOUR = 10
RESIDENT = "群众（点单人）"
QUEUES = ("dispatch", "take", "complete", "complaints", "all")


@dataclass(frozen=True)
class SubmitOrder:
    """Command: order a kind of service at a unit, for a place and a time, with a contact."""

    unit_id: int
    kind: str
    title: str
    place: str
    wanted_at: dt.datetime  # local time (Asia/Shanghai), naive
    contact_name: str
    phone: str
    detail: str = ""


def order_public(order: ServiceOrder, state: rules.OrderState) -> dict:
    """An order with its derived state, as shown to clients (the phone masked)."""
    return {"id": order.id, "unit_id": order.unit_id, "kind": order.kind, "title": order.title,
            "detail": order.detail, "place": order.place, "wanted_at": order.wanted_at.isoformat(),
            "contact_name": order.contact_name, "phone_masked": order.phone_masked, "source": order.source,
            "created_at": rules.local_iso(order.created_at), "state": state.state, "state_name": state.state_name,
            "target_unit_id": state.target_unit_id, "target_team_id": state.target_team_id,
            "deadline": rules.local_iso(state.deadline), "activity_id": state.activity_id, "rating": state.rating, "complaint_open": state.complaint_open,
            "response_minutes": rules.response_minutes(state)}


def event_public(event: OrderEvent) -> dict:
    """One step of an order: what, who, when."""
    return {"id": event.id, "kind": event.kind, "at": rules.local_iso(event.at), "actor": event.actor,
            "target_unit_id": event.target_unit_id, "target_team_id": event.target_team_id,
            "deadline": rules.local_iso(event.deadline), "activity_id": event.activity_id, "rating": event.rating, "upheld": event.upheld,
            "reason": event.reason}


def _view(event: OrderEvent) -> rules.EventView:
    return rules.EventView(kind=event.kind, at=event.at, target_unit_id=event.target_unit_id,
                           target_team_id=event.target_team_id, deadline=event.deadline,
                           activity_id=event.activity_id, rating=event.rating, upheld=event.upheld)


def order_events(session: Session, order_id: int) -> list[OrderEvent]:
    """The events of an order, oldest first."""
    return list(session.execute(select(OrderEvent).where(OrderEvent.order_id == order_id)
                                .order_by(OrderEvent.id)).scalars())


def load_order(session: Session, order_id: int, *, lock: bool = False) -> tuple[ServiceOrder, rules.OrderState]:
    """The order and its state (locked for a new step when `lock`); not found as a NotFound."""
    query = select(ServiceOrder).where(ServiceOrder.id == order_id)
    order = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if order is None:
        raise NotFound(f"点单 {order_id} 不存在 (order {order_id} not found)", field="order_id")
    return order, rules.derive_state([_view(e) for e in order_events(session, order_id)])


def can_see_order(session: Session, principal: Principal, order: ServiceOrder, state: rules.OrderState) -> bool:
    """Staff see the orders of their subtree and the orders dispatched into it."""
    units = [order.unit_id] + ([state.target_unit_id] if state.target_unit_id else [])
    return any(in_scope(principal, unit_path(session, unit_id) or "") for unit_id in units)


def require_order(session: Session, principal: Principal, order_id: int,
                  lock: bool = False) -> tuple[ServiceOrder, rules.OrderState]:
    """An order the principal may see; else not found (never says which)."""
    order, state = load_order(session, order_id, lock=lock)
    if principal.role == "volunteer" or not can_see_order(session, principal, order, state):
        raise NotFound(f"点单 {order_id} 不存在或不在您的管辖范围 (order {order_id} not found)", field="order_id")
    return order, state


def append_event(session: Session, order_id: int, kind: str, state: rules.OrderState, *, now: dt.datetime,
                 actor: str, actor_user_id: int | None = None, **facts) -> OrderEvent:
    """Append one step after checking that it may follow the order's state."""
    if kind != "submitted" and not rules.may_follow(kind, state):
        raise Conflict(f"点单当前状态为“{state.state_name}”，不能{_VERBS[kind]} "
                       f"(an order in state {state.state} cannot be {kind})", field="state")
    event = OrderEvent(order_id=order_id, kind=kind, at=now, actor=actor, actor_user_id=actor_user_id,
                       reason=facts.pop("reason", "") or "", **facts)
    session.add(event)
    session.flush()
    return event


_VERBS = {"dispatched": "派单", "declined": "拒单", "taken": "接单", "overdue": "标记逾期", "completed": "标记完成",
          "rated": "评单", "cancelled": "撤单", "complained": "投诉", "complaint_resolved": "处理投诉"}


def _check_order_fields(session: Session, command: SubmitOrder, local_now: dt.datetime) -> Unit:
    unit = session.get(Unit, command.unit_id)
    if unit is None:
        raise UnknownUnit(f"点单的站点 {command.unit_id} 不存在，请重新选择 (unit {command.unit_id} does not exist)",
                          field="unit_id")
    for name, label in (("title", "服务需求"), ("place", "服务地点"), ("contact_name", "联系人")):
        if not str(getattr(command, name) or "").strip():
            raise ValidationFailed(f"请填写{label} ({name} must not be empty)", field=name)
    if command.wanted_at < local_now - dt.timedelta(minutes=5):
        raise ValidationFailed("服务时间不能早于现在 (the wanted time is in the past)", field="wanted_at")
    _version, policy = policy_in_force(session, unit.id, command.wanted_at.date())
    if command.kind not in rules.service_kinds(policy.categories):
        raise ValidationFailed(f"没有“{command.kind}”这一服务类别，可选："
                               f"{'、'.join(rules.service_kinds(policy.categories))}", field="kind")
    return unit


def _refuse_flood(session: Session, phone_hash: str, client_hash: str | None, now: dt.datetime,
                  per_address: int) -> None:
    by_phone = session.execute(select(func.count()).where(
        ServiceOrder.phone_hash == phone_hash, ServiceOrder.created_at > now - dt.timedelta(days=1))).scalar_one()
    if by_phone >= PER_PHONE_PER_DAY:
        raise TooManyAttempts(f"同一联系电话一天最多点单 {PER_PHONE_PER_DAY} 次，请明天再来或联系站点 "
                              f"(at most {PER_PHONE_PER_DAY} orders a day per phone)", field="phone")
    if client_hash is not None:
        by_address = session.execute(select(func.count()).where(
            ServiceOrder.client_hash == client_hash,
            ServiceOrder.created_at > now - dt.timedelta(hours=1))).scalar_one()
        if by_address >= per_address:
            raise TooManyAttempts(f"本网络一小时内点单已达 {per_address} 次，请稍后再试 "
                                  f"(too many orders from this address)", field="phone")


def submit_order(session: Session, secret: bytes, command: SubmitOrder, *, now: dt.datetime,
                 principal: Principal | None = None, client_address: str | None = None,
                 challenge: str | None = None, answer: str | None = None,
                 per_address: int = PER_ADDRESS_PER_HOUR) -> dict:
    """点单: a resident (public: challenge and limits) or a station admin for them (in scope)."""
    local_now = now.astimezone(CHINA).replace(tzinfo=None)
    if principal is not None:
        require_role(principal, "admin", "unit_admin")
        require_unit(session, principal, command.unit_id)
    else:
        check_challenge(secret, challenge, answer, now)
    _check_order_fields(session, command, local_now)
    phone = validate_phone(command.phone, field="phone")
    phone_hash = keyed_hash(phone, secret)
    client_hash = keyed_hash(f"client:{client_address}", secret) if client_address else None
    used = challenge_digest(challenge) if principal is None and challenge else None
    if used and session.execute(select(ServiceOrder.id).where(ServiceOrder.challenge_hash == used)).first():
        raise ValidationFailed("验证题已使用过，请重新获取 (this challenge was already used)", field="challenge_answer")
    if principal is None:
        _refuse_flood(session, phone_hash, client_hash, now, per_address)
    order = ServiceOrder(unit_id=command.unit_id, kind=command.kind, title=command.title.strip(),
                         detail=(command.detail or "").strip(), place=command.place.strip(),
                         wanted_at=command.wanted_at, contact_name=command.contact_name.strip(),
                         phone_hash=phone_hash, phone_masked=mask_phone(phone), challenge_hash=used,
                         client_hash=client_hash, source="staff" if principal else "public",
                         created_by=principal.user_id if principal else None, created_at=now)
    session.add(order)
    session.flush()
    actor = principal.username if principal else RESIDENT
    append_event(session, order.id, "submitted", rules.OrderState(), now=now, actor=actor,
                 actor_user_id=principal.user_id if principal else None)
    return order_public(*load_order(session, order.id))


@dataclass(frozen=True)
class DispatchOrder:
    """Command: 派单 to a team (or a station) with a take-up deadline."""

    deadline: dt.datetime  # timezone-aware
    team_id: int | None = None
    unit_id: int | None = None
    note: str = ""


def _require_dispatcher(session: Session, principal: Principal) -> None:
    require_role(principal, "admin", "unit_admin")
    if principal.role == "unit_admin":
        unit = session.get(Unit, principal.unit_id)
        if unit is None or unit.kind not in ("center", "institute"):
            raise Forbidden("派单由中心或实践所管理员操作 (only a center or an institute dispatches)", field="role")


def dispatch_order(session: Session, principal: Principal, order_id: int, command: DispatchOrder,
                   now: dt.datetime) -> dict:
    """派单: the center or an institute sends an order in its subtree to a team or a station."""
    _require_dispatcher(session, principal)
    order, state = require_order(session, principal, order_id, lock=True)
    require_unit(session, principal, order.unit_id, field="order_id")
    if (command.team_id is None) == (command.unit_id is None):
        raise ValidationFailed("请选择承接的队伍或站点（二选一）(give a team_id or a unit_id)", field="team_id")
    if command.team_id is not None:
        team = session.get(Team, command.team_id)
        if team is None or not in_scope(principal, unit_path(session, team.unit_id) or ""):
            raise NotFound(f"队伍 {command.team_id} 不存在或不在您的管辖范围 (team not found)", field="team_id")
        target_unit_id = team.unit_id
    else:
        target_unit_id = require_unit(session, principal, command.unit_id).id
    deadline = (command.deadline if command.deadline.tzinfo else command.deadline.replace(tzinfo=CHINA)
                ).astimezone(dt.timezone.utc)  # stored in UTC (SQLite keeps no zone)
    if deadline <= now:
        raise ValidationFailed("接单期限必须晚于现在 (the deadline must be in the future)", field="deadline")
    append_event(session, order.id, "dispatched", state, now=now, actor=principal.username,
                 actor_user_id=principal.user_id, target_unit_id=target_unit_id,
                 target_team_id=command.team_id, deadline=deadline, reason=command.note)
    return order_public(*load_order(session, order.id))


def _require_target(session: Session, principal: Principal, order_id: int) -> tuple[ServiceOrder, rules.OrderState]:
    require_role(principal, "admin", "unit_admin")
    order, state = require_order(session, principal, order_id, lock=True)
    if state.state != "dispatched":
        raise Conflict(f"点单当前状态为“{state.state_name}”，不是待接单 (the order is not waiting to be taken)",
                       field="state")
    if not in_scope(principal, unit_path(session, state.target_unit_id) or ""):
        raise Forbidden("该点单没有派给您的队伍或站点 (the order was not dispatched to you)", field="order_id")
    return order, state


@dataclass(frozen=True)
class TakeOrder:
    """Command: 接单; the activity it becomes (category and date default from the order)."""

    category: str | None = None
    held_on: dt.date | None = None
    title: str | None = None
    organiser: str = ""


def take_order(session: Session, principal: Principal, order_id: int, command: TakeOrder,
               now: dt.datetime) -> dict:
    """接单: the team or station the order was dispatched to takes it; it becomes an activity."""
    order, state = _require_target(session, principal, order_id)
    if rules.is_overdue(state, now):
        raise Conflict("接单期限已过，请联系中心重新派单 (the take-up deadline has passed)", field="deadline")
    held_on = command.held_on or order.wanted_at.date()
    _version, policy = policy_in_force(session, state.target_unit_id, held_on)
    category = command.category or rules.category_for(order.kind, policy.categories)
    if category is None:
        raise ValidationFailed(f"“{order.kind}”没有对应的服务类别，请选择一个类别 (choose a category)",
                               field="category")
    activity = create_activity(session, principal, CreateActivity(
        unit_id=state.target_unit_id, team_id=state.target_team_id, title=command.title or order.title,
        category=category, held_on=held_on, place=order.place, organiser=command.organiser or principal.username),
        principal.user_id)
    append_event(session, order.id, "taken", state, now=now, actor=principal.username,
                 actor_user_id=principal.user_id, activity_id=activity.id)
    return order_public(*load_order(session, order.id))


def decline_order(session: Session, principal: Principal, order_id: int, reason: str, now: dt.datetime) -> dict:
    """拒单 with a reason: the order goes back to the dispatcher's queue."""
    if not reason or not reason.strip():
        raise ValidationFailed("拒单需要填写理由 (a decline needs a reason)", field="reason")
    order, state = _require_target(session, principal, order_id)
    append_event(session, order.id, "declined", state, now=now, actor=principal.username,
                 actor_user_id=principal.user_id, reason=reason.strip())
    return order_public(*load_order(session, order.id))


def complete_order(session: Session, principal: Principal, order_id: int, now: dt.datetime) -> dict:
    """服务完成: every service record of the activity decided, at least one posted; 评单 opens."""
    require_role(principal, "admin", "unit_admin")
    order, state = require_order(session, principal, order_id, lock=True)
    if state.state != "taken":
        raise Conflict(f"点单当前状态为“{state.state_name}”，不能标记完成", field="state")
    activity = session.get(Activity, state.activity_id)
    if not in_scope(principal, unit_path(session, activity.unit_id) or ""):
        raise Forbidden("只有承接单位可以标记服务完成 (only the unit serving it completes an order)", field="order_id")
    statuses = dict(session.execute(select(ServiceRecord.status, func.count()).where(
        ServiceRecord.activity_id == activity.id).group_by(ServiceRecord.status)).all())
    if statuses.get("pending"):
        raise Conflict(f"活动还有 {statuses['pending']} 条服务记录待审核，审核后才能标记完成 "
                       "(service records of the activity are still pending)", field="state")
    if not statuses.get("posted"):
        raise Conflict("活动还没有已审核入账的服务记录 (no posted service record yet)", field="state")
    append_event(session, order.id, "completed", state, now=now, actor=principal.username,
                 actor_user_id=principal.user_id)
    return order_public(*load_order(session, order.id))


def cancel_order(session: Session, principal: Principal, order_id: int, reason: str, now: dt.datetime) -> dict:
    """撤单 before it is taken (a duplicate, a request withdrawn), with a reason."""
    _require_dispatcher(session, principal)
    if not reason or not reason.strip():
        raise ValidationFailed("撤单需要填写理由 (a cancellation needs a reason)", field="reason")
    order, state = require_order(session, principal, order_id, lock=True)
    append_event(session, order.id, "cancelled", state, now=now, actor=principal.username,
                 actor_user_id=principal.user_id, reason=reason.strip())
    return order_public(*load_order(session, order.id))


def mark_overdue(session: Session, now: dt.datetime, actor: str) -> list[int]:
    """Orders dispatched and not taken by their deadline go back to be dispatched (逾期未接单)."""
    candidates = session.execute(select(OrderEvent.order_id).where(
        OrderEvent.kind == "dispatched", OrderEvent.deadline <= now).distinct()).scalars().all()
    marked = []
    for order_id in sorted(candidates):
        order, state = load_order(session, order_id, lock=True)
        if rules.is_overdue(state, now):
            append_event(session, order.id, "overdue", state, now=now, actor=actor,
                         reason="接单期限已过，未接单")
            marked.append(order.id)
    return marked


def _order_ids_in_scope(principal: Principal):
    own = select(ServiceOrder.id).join(Unit, Unit.id == ServiceOrder.unit_id).where(
        path_in_scope(principal, Unit.path))
    targeted = select(OrderEvent.order_id).join(Unit, Unit.id == OrderEvent.target_unit_id).where(
        path_in_scope(principal, Unit.path))
    return union(own, targeted).subquery()


def list_orders(session: Session, principal: Principal, queue: str = "all", limit: int = 200) -> list[dict]:
    """The queue of a role: to dispatch, to take, to complete, complaints open, or all (newest first)."""
    require_role(principal, "admin", "unit_admin", "auditor")
    if queue not in QUEUES:
        raise ValidationFailed(f"queue 只能是 {', '.join(QUEUES)}", field="queue")
    ids = _order_ids_in_scope(principal)
    orders = session.execute(select(ServiceOrder).where(ServiceOrder.id.in_(select(ids.c[0])))
                             .order_by(ServiceOrder.id.desc()).limit(limit)).scalars().all()
    events: dict[int, list] = {}
    for event in session.execute(select(OrderEvent).where(OrderEvent.order_id.in_([o.id for o in orders]))
                                 .order_by(OrderEvent.id)).scalars():
        events.setdefault(event.order_id, []).append(_view(event))
    answer = []
    for order in orders:
        state = rules.derive_state(events.get(order.id, []))
        if _in_queue(session, principal, queue, order, state):
            answer.append(order_public(order, state))
    return answer


def _in_queue(session: Session, principal: Principal, queue: str, order: ServiceOrder,
              state: rules.OrderState) -> bool:
    if queue == "all":
        return True
    if queue == "dispatch":
        return state.state == "submitted" and in_scope(principal, unit_path(session, order.unit_id) or "")
    if queue == "take":
        return state.state == "dispatched" and in_scope(principal, unit_path(session, state.target_unit_id) or "")
    if queue == "complete":
        return state.state == "taken" and in_scope(principal, unit_path(session, state.target_unit_id) or "")
    return state.complaint_open


def get_order(session: Session, principal: Principal, order_id: int) -> dict:
    """One order in scope, with every step."""
    require_role(principal, "admin", "unit_admin", "auditor")
    order, state = require_order(session, principal, order_id)
    return {**order_public(order, state), "events": [event_public(e) for e in order_events(session, order.id)]}


def public_units(session: Session) -> list[dict]:
    """The units a resident may order at (their names are on the signboards), tree order."""
    return [{"id": unit_id, "name": name, "kind_name": UNIT_KIND_NAMES[kind]}
            for unit_id, name, kind in session.execute(select(Unit.id, Unit.name, Unit.kind).order_by(Unit.path))]


def kinds_at(session: Session, unit_id: int, on_date: dt.date) -> list[str]:
    """The kinds of service a resident may order at a unit on a date (the six, then the unit's own)."""
    if session.get(Unit, unit_id) is None:
        raise UnknownUnit(f"站点 {unit_id} 不存在 (unit {unit_id} does not exist)", field="unit_id")
    return rules.service_kinds(policy_in_force(session, unit_id, on_date)[1].categories)
