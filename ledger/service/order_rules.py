"""Rules of the service loop with no database: the kinds of service, an order's state from its
events, and the tokens a resident carries (the 评单 link).

An order (点单) is never changed; each step is an event (`order_events`), and the state is
what its events say, read in order:

    submitted ─派单→ dispatched ─接单→ taken ─完成→ completed ─评单→ rated
                     │  ├─declined (拒单, with a reason) → back to be dispatched again
                     │  └─overdue  (接单期限已过)        → back to be dispatched again
    cancelled (撤单) from submitted or dispatched; complaints (投诉) after completion.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field

from ledger.people.challenge import same_text
from ledger.store.uow import CHINA

# The six kinds of the seed documents (洞头区 "六大功能"), and the policy category each is
# served as when an order becomes an activity; a unit may add its own (the policy's categories).
SEED_KINDS = {"理论宣讲": "理论宣讲", "教育服务": "助学支教", "文化服务": "文化文艺",
              "科技科普": "科学普及", "健身体育": "医疗健身", "文明创建": "文明创建"}

STATE_NAMES = {"submitted": "待派单", "dispatched": "待接单", "taken": "已接单", "completed": "待评单",
               "rated": "已评单", "cancelled": "已撤单"}


def service_kinds(policy_categories: tuple[str, ...]) -> list[str]:
    """The kinds a resident may order at a unit: the six of the seeds, then the unit's own."""
    return list(SEED_KINDS) + [c for c in policy_categories if c not in SEED_KINDS]


def category_for(kind: str, policy_categories: tuple[str, ...]) -> str | None:
    """The policy category an ordered kind is served as, or None when the policy has none."""
    category = SEED_KINDS.get(kind, kind)
    return category if category in policy_categories else None


@dataclass(frozen=True)
class EventView:
    """The facts of one event that the state needs (a row of `order_events`)."""

    kind: str
    at: dt.datetime
    target_unit_id: int | None = None
    target_team_id: int | None = None
    deadline: dt.datetime | None = None
    activity_id: int | None = None
    rating: int | None = None
    upheld: bool | None = None


@dataclass
class OrderState:
    """What an order's events add up to."""

    state: str = "submitted"
    target_unit_id: int | None = None
    target_team_id: int | None = None
    deadline: dt.datetime | None = None
    activity_id: int | None = None
    rating: int | None = None
    complaint_open: bool = False
    complaints: int = 0
    was_declined: bool = False
    was_overdue: bool = False
    times: dict[str, dt.datetime] = field(default_factory=dict)  # first time of each kind

    @property
    def state_name(self) -> str:
        """The state in Chinese, as the pages show it."""
        if self.state == "submitted" and (self.was_declined or self.was_overdue):
            return "待重新派单"
        return STATE_NAMES[self.state]


def derive_state(events: list[EventView]) -> OrderState:
    """Fold an order's events, oldest first, into its state."""
    state = OrderState()
    for event in events:
        state.times.setdefault(event.kind, event.at)
        kind = event.kind
        if kind == "dispatched":
            state.state, state.deadline = "dispatched", event.deadline
            state.target_unit_id, state.target_team_id = event.target_unit_id, event.target_team_id
            state.was_declined = state.was_overdue = False
        elif kind in ("declined", "overdue"):
            state.state, state.deadline = "submitted", None
            state.was_declined, state.was_overdue = kind == "declined", kind == "overdue"
        elif kind == "taken":
            state.state, state.activity_id = "taken", event.activity_id
        elif kind in ("completed", "cancelled"):
            state.state = kind
        elif kind == "rated":
            state.state, state.rating = "rated", event.rating
        elif kind == "complained":
            state.complaint_open, state.complaints = True, state.complaints + 1
        elif kind == "complaint_resolved":
            state.complaint_open = False
    return state


# which step may follow which state (the event kinds the use cases append)
ALLOWED = {"dispatched": ("submitted",), "declined": ("dispatched",), "taken": ("dispatched",),
           "overdue": ("dispatched",), "completed": ("taken",), "rated": ("completed",),
           "cancelled": ("submitted", "dispatched"), "complained": ("completed", "rated")}


def may_follow(kind: str, state: OrderState) -> bool:
    """True when an event of `kind` may be appended to an order in `state`."""
    return state.state in ALLOWED.get(kind, ())


def is_overdue(state: OrderState, now: dt.datetime) -> bool:
    """A dispatched order whose take-up deadline (接单期限) has passed."""
    return state.state == "dispatched" and state.deadline is not None and as_aware(state.deadline) <= now


def as_aware(value: dt.datetime) -> dt.datetime:
    """A stored time as timezone-aware (SQLite gives naive UTC back)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def local_iso(value: dt.datetime | None) -> str | None:
    """A stored moment as China time, ISO 8601 with its offset (what people read)."""
    return as_aware(value).astimezone(CHINA).isoformat() if value is not None else None


def response_minutes(state: OrderState) -> int | None:
    """Minutes from the order to its take-up (响应时间), when it was taken."""
    if "submitted" not in state.times or "taken" not in state.times:
        return None
    return int((as_aware(state.times["taken"]) - as_aware(state.times["submitted"])).total_seconds() // 60)


def rating_token(secret: bytes, order_id: int) -> str:
    """The resident's 评单 token of an order (in the link they are given): keyed to the order.

    Derived, not stored: a retried submission gives the same link, and no table holds it.
    """
    digest = hmac.new(secret, f"order-rating:{order_id}".encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:24]


def token_matches(secret: bytes, order_id: int, token: str | None) -> bool:
    """True when `token` is the 评单 token of this order (constant-time)."""
    return bool(token) and same_text(rating_token(secret, order_id), (token or "").strip())
