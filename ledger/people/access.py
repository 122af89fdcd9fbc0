"""Who may do what: roles, and scoping to a unit subtree or to one's own data.

Roles: admin (everything), unit_admin (their unit and everything under it), desk_operator
(their desk), auditor (read everything, write nothing), volunteer (their own data only).
Out-of-scope objects are reported as not found, so a token never learns they exist.

Every id a request names, in its path, query or body, is resolved through `require_in_scope`
(by way of `require_unit`, `require_team`, `require_volunteer`, `require_desk_unit` and the
concept packages' `require_*` functions built on them) before it is used.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import column, false, select, table, true
from sqlalchemy.orm import Session

from ledger.errors import Forbidden, NotFound
from ledger.people.tables import Team, Unit, Volunteer
from ledger.store.session_state import session_state

ROLES = ("admin", "unit_admin", "desk_operator", "auditor", "volunteer")
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Principal:
    """The signed-in user a use case acts for."""

    user_id: int | None
    username: str
    role: str
    unit_id: int | None = None
    unit_path: str | None = None
    volunteer_id: int | None = None
    desk_id: int | None = None
    created_by: int | None = None  # the user who made this one (the two-person rule)

    @property
    def sees_everything(self) -> bool:
        """Admins and auditors are not scoped to a subtree."""
        return self.role in ("admin", "auditor")


SYSTEM = Principal(user_id=None, username=SYSTEM_ACTOR, role="admin")


def require_role(principal: Principal, *roles: str) -> None:
    """Refuse unless the principal has one of `roles`."""
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role!r} may not do this (needs one of {', '.join(roles)})",
                        field="role")


def unit_path(session: Session, unit_id: int) -> str | None:
    """The materialised path of a unit, or None when it does not exist.

    Units never move: a path found is remembered for the session (as `pricing.ancestors`).
    """
    paths = session_state(session).unit_paths
    if unit_id not in paths:
        path = session.execute(select(Unit.path).where(Unit.id == unit_id)).scalar_one_or_none()
        if path is None:
            return None
        paths[unit_id] = path
    return paths[unit_id]


def remember_path(session: Session, unit_id: int, path: str) -> None:
    """Note a unit's path read with another row, for `unit_path` and `pricing.ancestors`."""
    session_state(session).unit_paths[unit_id] = path


def path_in_scope(principal: Principal, path_column):
    """The SQL condition of `in_scope` on a unit path column, for list queries (true for admins)."""
    if principal.sees_everything:
        return true()
    if principal.role in ("unit_admin", "desk_operator") and principal.unit_path:
        return path_column.startswith(principal.unit_path)
    return false()


def in_scope(principal: Principal, path: str) -> bool:
    """True when a unit with this path lies in the principal's subtree."""
    if principal.sees_everything:
        return True
    if principal.role in ("unit_admin", "desk_operator") and principal.unit_path:
        return path.startswith(principal.unit_path)
    return False


def require_in_scope(principal: Principal, path: str | None, what: str, object_id, field: str,
                     error: type[NotFound] = NotFound) -> None:
    """The one scope check of an id: refused, as not found, unless the object's unit path is in scope.

    `path` is None when the object does not exist: both answers are the same words, so a
    caller never learns whether an id outside their scope exists.
    """
    if path is None or not in_scope(principal, path):
        raise error(f"{what} {object_id} 不存在或不在您的管辖范围", field=field)


def require_unit(session: Session, principal: Principal, unit_id: int, field: str = "unit_id",
                 error: type[NotFound] = NotFound) -> Unit:
    """The unit, when it exists and lies in the principal's scope; else not found."""
    unit = session.get(Unit, unit_id)
    require_in_scope(principal, unit.path if unit is not None else None, "单位", unit_id, field, error)
    return unit


def require_team(session: Session, principal: Principal, team_id: int, field: str = "team_id") -> Team:
    """The team, when it exists and hangs off a unit in the principal's scope; else not found."""
    team = session.get(Team, team_id)
    path = unit_path(session, team.unit_id) if team is not None else None
    require_in_scope(principal, path, "队伍", team_id, field)
    return team


def require_volunteer(session: Session, principal: Principal, volunteer_id: int,
                      field: str = "volunteer_id") -> Volunteer:
    """The volunteer, when the principal may see them; else not found."""
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None or not can_see_volunteer(session, principal, volunteer):
        raise NotFound(f"志愿者 {volunteer_id} 不存在或不在您的管辖范围", field=field)
    return volunteer


# desks belong to `redemption`, a layer above: their unit is read by table name, not by import
_DESKS = table("desks", column("id"), column("unit_id"))


def require_desk_unit(session: Session, principal: Principal, desk_id: int, field: str = "desk_id") -> int:
    """The unit id of a desk in the principal's scope; else not found."""
    unit_id = session.execute(select(_DESKS.c.unit_id).where(_DESKS.c.id == desk_id)).scalar_one_or_none()
    path = unit_path(session, unit_id) if unit_id is not None else None
    require_in_scope(principal, path, "兑换点", desk_id, field)
    return unit_id


def can_see_volunteer(session: Session, principal: Principal, volunteer: Volunteer) -> bool:
    """Volunteers see themselves; unit admins and operators see volunteers of their subtree."""
    if principal.role == "volunteer":
        return principal.volunteer_id == volunteer.id
    if principal.sees_everything:
        return True
    path = unit_path(session, volunteer.home_unit_id) or ""
    return in_scope(principal, path)


