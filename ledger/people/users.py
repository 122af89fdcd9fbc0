"""Who may make and manage which users: nobody gives a user more reach than their own.

A user's *reach* is what their role and scope let them touch.  An admin (全县管理员) may
make and manage any user.  A unit admin (单位管理员) may make and manage, inside their
subtree only:
  - unit admins of a unit strictly BELOW their own (an admin of a unit is made from above,
    so nobody makes a second admin of their own unit to approve their own records),
  - desk operators of a desk in their subtree (the operator's unit holds the desk),
  - volunteer users of a volunteer they can see.
Every id of such a user (unit, desk, volunteer) is resolved through `ledger.people.access`.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.errors import Forbidden, NotFound, ValidationFailed
from ledger.people.access import (
    ROLES,
    Principal,
    require_desk_unit,
    require_role,
    require_unit,
    require_volunteer,
    unit_path,
)
from ledger.people.tables import User

ROLE_NAMES = {"admin": "全县管理员", "unit_admin": "单位管理员", "desk_operator": "兑换点操作员",
              "auditor": "审计员", "volunteer": "志愿者"}


def require_reach(session: Session, principal: Principal, role: str, *, unit_id: int | None,
                  volunteer_id: int | None, desk_id: int | None) -> None:
    """Refuse a user (to be made, or managed) whose reach is not strictly inside the principal's."""
    require_role(principal, "admin", "unit_admin")
    if role not in ROLES:
        raise ValidationFailed(f"角色必须是以下之一：{', '.join(ROLES)}", field="role")
    _require_role_ids(role, unit_id, volunteer_id, desk_id)
    if principal.role != "admin" and role in ("admin", "auditor"):
        raise Forbidden(f"单位管理员不能创建或管理{ROLE_NAMES[role]}", field="role")
    unit = require_unit(session, principal, unit_id) if unit_id is not None else None
    if volunteer_id is not None:
        require_volunteer(session, principal, volunteer_id)
    if desk_id is not None:
        desk_unit = require_desk_unit(session, principal, desk_id)
        if unit is not None and not (unit_path(session, desk_unit) or "").startswith(unit.path):
            raise ValidationFailed("兑换点不在该操作员所属单位之下", field="desk_id")
    if principal.role == "unit_admin" and role == "unit_admin" and unit.path == principal.unit_path:
        raise Forbidden("只有上级单位的管理员才能为本单位创建或管理单位管理员", field="unit_id")


def _require_role_ids(role: str, unit_id: int | None, volunteer_id: int | None, desk_id: int | None) -> None:
    if role in ("unit_admin", "desk_operator") and unit_id is None:
        raise ValidationFailed(f"{ROLE_NAMES[role]}需要指定所属单位 unit_id", field="unit_id")
    if role == "desk_operator" and desk_id is None:
        raise ValidationFailed("兑换点操作员需要指定兑换点 desk_id", field="desk_id")
    if role == "volunteer" and volunteer_id is None:
        raise ValidationFailed("志愿者用户需要指定志愿者 volunteer_id", field="volunteer_id")


def require_managed_user(session: Session, principal: Principal, user_id: int, field: str = "user_id") -> User:
    """A user the principal may manage (issue tokens, revoke, disable): an admin any other user,
    a unit admin a user they could have made; else not found, whether it exists or not."""
    require_role(principal, "admin", "unit_admin")
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is not None and user.id != principal.user_id:
        if principal.role == "admin":
            return user
        try:
            require_reach(session, principal, user.role, unit_id=user.unit_id,
                          volunteer_id=user.volunteer_id, desk_id=user.desk_id)
            return user
        except (NotFound, Forbidden, ValidationFailed):
            pass
    raise NotFound(f"用户 {user_id} 不存在或不在您的管辖范围", field=field)
