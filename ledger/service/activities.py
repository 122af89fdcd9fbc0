"""Activities (活动): what volunteers serve in, held by a unit (optionally one of its teams)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import UnknownActivity, ValidationFailed
from ledger.incentives.pricing import policy_in_force
from ledger.names import clean_name
from ledger.people.access import Principal, in_scope, require_role, require_team, require_unit
from ledger.people.tables import Unit
from ledger.service.tables import Activity


@dataclass(frozen=True)
class CreateActivity:
    """Command: announce an activity of a unit."""

    unit_id: int
    title: str
    category: str
    held_on: dt.date
    team_id: int | None = None
    place: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)  # e.g. ("应急",)
    is_concentrated: bool = False  # 集中服务 (counts towards a team's 12 a year)
    organiser: str = ""


def activity_public(activity: Activity) -> dict:
    """An activity as shown to clients."""
    return {"id": activity.id, "unit_id": activity.unit_id, "team_id": activity.team_id,
            "title": activity.title, "category": activity.category,
            "held_on": activity.held_on.isoformat(), "place": activity.place,
            "tags": list(activity.tags or []), "is_concentrated": activity.is_concentrated,
            "organiser": activity.organiser}


def create_activity(session: Session, principal: Principal, command: CreateActivity,
                    created_by: int | None) -> Activity:
    """Add an activity to a unit in scope."""
    require_role(principal, "admin", "unit_admin")
    require_unit(session, principal, command.unit_id)
    title = clean_name(command.title, "title", max_length=200, label="活动名称")
    place = clean_name(command.place, "place", max_length=200, label="活动地点", allow_empty=True)
    organiser = clean_name(command.organiser, "organiser", label="组织者", allow_empty=True)
    if not command.category.strip():
        raise ValidationFailed("category (服务类别) must not be empty", field="category")
    _version, policy = policy_in_force(session, command.unit_id, command.held_on)
    if command.category not in policy.categories:
        raise ValidationFailed(f"unknown service category {command.category!r}; the policy in force knows "
                               f"{', '.join(policy.categories)}", field="category")
    unknown = sorted(set(command.tags) - set(policy.activity_tags)) if policy.activity_tags is not None else []
    if unknown:
        raise ValidationFailed(f"unknown tag {unknown[0]!r}; the policy in force knows "
                               f"{', '.join(policy.activity_tags or ())}", field="tags")
    if command.team_id is not None:
        require_team(session, principal, command.team_id)
    activity = Activity(unit_id=command.unit_id, team_id=command.team_id, title=title,
                        category=command.category.strip(), held_on=command.held_on, place=place,
                        tags=sorted(set(command.tags)), is_concentrated=command.is_concentrated,
                        organiser=organiser, created_by=created_by)
    session.add(activity)
    session.flush()
    return activity


def require_activity(session: Session, principal: Principal, activity_id: int) -> Activity:
    """The activity when it exists and its unit is in scope; else unknown."""
    row = session.execute(
        select(Activity, Unit.path).join(Unit, Unit.id == Activity.unit_id).where(Activity.id == activity_id)
    ).first()
    if row is None or not in_scope(principal, row[1]):
        raise UnknownActivity(f"activity {activity_id} not found", field="activity_id")
    return row[0]


def list_activities(session: Session, principal: Principal, unit_id: int | None = None,
                    limit: int = 100, offset: int = 0) -> list[dict]:
    """Activities in scope, newest first."""
    query = select(Activity).join(Unit, Unit.id == Activity.unit_id)
    if unit_id is not None:
        query = query.where(Unit.path.startswith(require_unit(session, principal, unit_id).path))
    elif not principal.sees_everything:
        query = query.where(Unit.path.startswith(principal.unit_path or "//"))
    query = query.order_by(Activity.held_on.desc(), Activity.id.desc()).limit(limit).offset(offset)
    return [activity_public(a) for a in session.execute(query).scalars()]
