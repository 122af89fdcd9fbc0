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

import datetime as dt

from sqlalchemy import func, or_, select, update
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
from ledger.people.tables import ApiToken, Unit, User
from ledger.store.tables import AuditEntry

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


def require_second_person(approver: Principal, submitter_id: int | None, field: str = "approved_by") -> None:
    """The two-person rule (双人审核): the approver is neither the submitter nor a user the submitter made."""
    if submitter_id is None:
        return
    if approver.user_id == submitter_id or (approver.created_by is not None and approver.created_by == submitter_id):
        raise Forbidden("录入人不能审核自己录入的记录，录入人创建的用户也不能审核，请由另一位管理员审核", field=field)


def list_users(session: Session, principal: Principal, limit: int = 200, offset: int = 0) -> list[dict]:
    """The users the principal may manage (an admin: every user), with their live token counts."""
    require_role(principal, "admin", "unit_admin")
    query = select(User).order_by(User.id)
    if principal.role != "admin":  # a coarse SQL filter by subtree, then the exact reach rule per user
        query = query.outerjoin(Unit, Unit.id == User.unit_id).where(
            or_(User.unit_id.is_(None), Unit.path.startswith(principal.unit_path or "//")))
    found = []
    for user in session.execute(query).scalars():
        if _manageable(session, principal, user):
            found.append(user)
    found = found[offset:offset + limit]
    live = _live_tokens(session, [user.id for user in found])
    return [{**user_public(user), "created_by": user.created_by, "live_tokens": live.get(user.id, 0)}
            for user in found]


def _manageable(session: Session, principal: Principal, user: User) -> bool:
    try:
        require_managed_user(session, principal, user.id)
        return True
    except NotFound:
        return False


def _live_tokens(session: Session, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = session.execute(select(ApiToken.user_id, func.count()).where(
        ApiToken.user_id.in_(user_ids), ApiToken.revoked_at.is_(None)).group_by(ApiToken.user_id)).all()
    return {user_id: int(count) for user_id, count in rows}


def user_public(user: User) -> dict:
    """A user as shown to clients."""
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role, "unit_id": user.unit_id, "volunteer_id": user.volunteer_id,
            "desk_id": user.desk_id, "is_active": user.is_active}


def token_public(token: ApiToken) -> dict:
    """A token as listed: never the token, never its hash."""
    return {"id": token.id, "label": token.label, "created_at": _iso(token.created_at),
            "expires_at": _iso(token.expires_at), "revoked_at": _iso(token.revoked_at)}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def list_tokens(session: Session, principal: Principal, user_id: int) -> list[dict]:
    """The tokens of a user the principal manages, newest first."""
    user = require_managed_user(session, principal, user_id)
    tokens = session.execute(select(ApiToken).where(ApiToken.user_id == user.id)
                             .order_by(ApiToken.id.desc())).scalars()
    return [token_public(token) for token in tokens]


def revoke_tokens(session: Session, principal: Principal, user_id: int, token_id: int | None,
                  now: dt.datetime) -> dict:
    """Revoke one token of a managed user, or all of them; they answer 401 from the next request on."""
    user = require_managed_user(session, principal, user_id)
    query = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        token = session.get(ApiToken, token_id) if isinstance(token_id, int) else None
        if token is None or token.user_id != user.id:
            raise NotFound(f"令牌 {token_id} 不存在或不在您的管辖范围", field="token_id")
        query = query.where(ApiToken.id == token_id)
    revoked = session.execute(query.values(revoked_at=now)).rowcount
    session.add(AuditEntry(actor=principal.username, action="token.revoke", target=f"user:{user.id}",
                           detail={"token_id": token_id, "revoked": revoked}))
    return {"user_id": user.id, "revoked": revoked}


def set_active(session: Session, principal: Principal, user_id: int, is_active: bool) -> dict:
    """Disable a managed user (every token of theirs answers 401 at once) or enable them again."""
    user = require_managed_user(session, principal, user_id)
    user.is_active = is_active
    session.add(AuditEntry(actor=principal.username, action="user.enable" if is_active else "user.disable",
                           target=f"user:{user.id}", detail={}))
    session.flush()
    return user_public(user)
