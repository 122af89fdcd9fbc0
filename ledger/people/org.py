"""The organisation tree (中心 center → 所 institute → 站 station → 点 point) and teams.

Every unit has a stable code and a materialised path ("/1/4/9/"): "this unit and
everything under it" is a prefix match, keyed by unit so it stays cheap at any size.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.book.amounts import hours_text
from ledger.book.tables import Account, Posting
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.names import clean_name
from ledger.people.access import Principal, in_scope, require_role, require_team, require_unit
from ledger.people.tables import Team, Unit, Volunteer
from ledger.store.tables import AuditEntry

UNIT_KINDS = ("center", "institute", "station", "point")
UNIT_KIND_NAMES = {"center": "中心", "institute": "所", "station": "站", "point": "点"}
TEAM_LEVELS = ("总队", "支队", "分队", "小队")


@dataclass(frozen=True)
class CreateUnit:
    """Command: add a unit under a parent (none only for a center)."""

    code: str
    name: str
    kind: str
    parent_id: int | None = None
    population: int | None = None
    responsible_person: str | None = None
    contact: str | None = None


def unit_public(unit: Unit) -> dict:
    """A unit as shown to clients."""
    return {"id": unit.id, "code": unit.code, "name": unit.name, "kind": unit.kind,
            "kind_name": UNIT_KIND_NAMES[unit.kind], "parent_id": unit.parent_id,
            "population": unit.population, "responsible_person": unit.responsible_person,
            "contact": unit.contact}


def create_unit(session: Session, principal: Principal, command: CreateUnit) -> dict:
    """Add a unit; a center only by an admin, other units under a parent in scope."""
    command = _check_unit_fields(command)
    if session.execute(select(Unit.id).where(Unit.code == command.code)).first():
        raise Conflict(f"unit code {command.code!r} is already used", field="code")
    if command.parent_id is None:
        require_role(principal, "admin")
        if command.kind != "center":
            raise ValidationFailed("only a center (中心) has no parent unit", field="parent_id")
        parent_path = "/"
    else:
        require_role(principal, "admin", "unit_admin")
        parent = require_unit(session, principal, command.parent_id, field="parent_id")
        if UNIT_KINDS.index(command.kind) <= UNIT_KINDS.index(parent.kind):
            raise ValidationFailed(
                f"a {command.kind} cannot sit under a {parent.kind} (中心 → 所 → 站 → 点)", field="kind")
        parent_path = parent.path
    unit = Unit(code=command.code, name=command.name, kind=command.kind, parent_id=command.parent_id,
                path="", population=command.population, responsible_person=command.responsible_person,
                contact=command.contact)
    session.add(unit)
    session.flush()
    unit.path = f"{parent_path}{unit.id}/"
    session.add(AuditEntry(actor=principal.username, action="unit.create", target=f"unit:{unit.id}",
                           detail={"code": unit.code}))
    return unit_public(unit)


def _check_unit_fields(command: CreateUnit) -> CreateUnit:
    """The command with its names cleaned (`clean_name`), or the field that is wrong."""
    if command.kind not in UNIT_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(UNIT_KINDS)}", field="kind")
    return replace(command, code=clean_name(command.code, "code", max_length=40, label="单位编码"),
                   name=clean_name(command.name, "name", max_length=200, label="单位名称"),
                   responsible_person=clean_name(command.responsible_person, "responsible_person", label="负责人",
                                                 allow_empty=True) or None,
                   contact=clean_name(command.contact, "contact", label="联系方式", allow_empty=True) or None)
    if command.population is not None and command.population < 0:
        raise ValidationFailed("population cannot be negative", field="population")


def list_units(session: Session, principal: Principal, root_id: int | None = None) -> list[dict]:
    """Units the principal may see, optionally only under `root_id`."""
    query = select(Unit).order_by(Unit.path)
    if root_id is not None:
        root = require_unit(session, principal, root_id)
        query = query.where(Unit.path.startswith(root.path))
    elif not principal.sees_everything:
        if not principal.unit_path:
            return []
        query = query.where(Unit.path.startswith(principal.unit_path))
    return [unit_public(unit) for unit in session.execute(query).scalars()]


def unit_tree(session: Session, principal: Principal) -> list[dict]:
    """The units the principal may see as a nested tree for pickers: each unit with `children`.

    The roots are the principal's own unit (or every center for admins and auditors); children
    are in path order.  A principal without a unit scope gets an empty list.
    """
    units = [{**unit, "children": []} for unit in list_units(session, principal)]
    by_id = {unit["id"]: unit for unit in units}
    roots = []
    for unit in units:
        parent = by_id.get(unit["parent_id"])
        (parent["children"] if parent else roots).append(unit)
    return roots


def unit_hours(session: Session, principal: Principal, unit_id: int) -> dict:
    """Hours served at a unit (−balance of its unit_minutes_served account), reconciled
    against its postings and broken down by volunteer; plus the whole subtree's total."""
    unit = require_unit(session, principal, unit_id)
    account = session.execute(select(Account.id, Account.balance).where(
        Account.kind == "unit_minutes_served", Account.owner_id == unit.id)).first()
    rows = [] if account is None else session.execute(
        select(Posting.volunteer_id, Volunteer.number, Volunteer.name, func.sum(Posting.amount))
        .outerjoin(Volunteer, Volunteer.id == Posting.volunteer_id)
        .where(Posting.account_id == account.id)
        .group_by(Posting.volunteer_id, Volunteer.number, Volunteer.name).order_by(Posting.volunteer_id)).all()
    by_volunteer = [{"volunteer_id": v, "number": number, "name": name, "minutes": -int(total)}
                    for v, number, name, total in rows if total]
    minutes = -int(account.balance) if account else 0
    from_postings = sum(item["minutes"] for item in by_volunteer)
    subtree = session.execute(select(func.coalesce(func.sum(Account.balance), 0)).join(
        Unit, Unit.id == Account.owner_id).where(Account.kind == "unit_minutes_served",
                                                  Unit.path.startswith(unit.path))).scalar_one()
    return {"unit_id": unit.id, "name": unit.name, "minutes": minutes, "hours": hours_text(minutes),
            "minutes_from_postings": from_postings, "reconciled": minutes == from_postings,
            "subtree_minutes": -int(subtree), "subtree_hours": hours_text(-int(subtree)),
            "volunteers": by_volunteer}


def unit_by_code(session: Session, code: str | None) -> Unit:
    """The unit with this code, or (no code) the first station; NotFound when there is none."""
    query = select(Unit).order_by(Unit.id)
    query = query.where(Unit.code == code) if code else query.where(Unit.kind == "station")
    unit = session.execute(query.limit(1)).scalar_one_or_none()
    if unit is None:
        raise NotFound("没有这个单位；请先导入演示数据或建立单位", field="unit_code")
    return unit


@dataclass(frozen=True)
class CreateTeam:
    """Command: add a team (队) of one service category to a unit."""

    code: str
    name: str
    unit_id: int
    category: str
    level: str = "小队"
    parent_id: int | None = None


def team_public(team: Team) -> dict:
    """A team as shown to clients."""
    return {"id": team.id, "code": team.code, "name": team.name, "unit_id": team.unit_id,
            "category": team.category, "level": team.level, "parent_id": team.parent_id}


def create_team(session: Session, principal: Principal, command: CreateTeam) -> dict:
    """Add a team to a unit in the principal's scope."""
    require_role(principal, "admin", "unit_admin")
    require_unit(session, principal, command.unit_id)
    command = replace(command, code=clean_name(command.code, "code", max_length=40, label="队伍编码"),
                      name=clean_name(command.name, "name", max_length=200, label="队伍名称"))
    if command.level not in TEAM_LEVELS:
        raise ValidationFailed(f"level must be one of {', '.join(TEAM_LEVELS)}", field="level")
    if not command.category.strip():
        raise ValidationFailed("category (服务类别) must not be empty", field="category")
    if session.execute(select(Team.id).where(Team.code == command.code)).first():
        raise Conflict(f"team code {command.code!r} is already used", field="code")
    if command.parent_id is not None:
        require_team(session, principal, command.parent_id, field="parent_id")
    team = Team(code=command.code, name=command.name, unit_id=command.unit_id,
                category=command.category, level=command.level, parent_id=command.parent_id)
    session.add(team)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="team.create", target=f"team:{team.id}",
                           detail={"code": team.code}))
    return team_public(team)


def list_teams(session: Session, principal: Principal, unit_id: int | None = None) -> list[dict]:
    """Teams in the principal's scope (optionally of one unit's subtree)."""
    query = select(Team, Unit.path).join(Unit, Unit.id == Team.unit_id).order_by(Team.id)
    if unit_id is not None:
        root = require_unit(session, principal, unit_id)
        query = query.where(Unit.path.startswith(root.path))
    rows = session.execute(query).all()

    return [team_public(team) for team, path in rows if in_scope(principal, path)]


def center_ids(session: Session) -> list[int]:
    """Ids of every center (中心): the roots the scheduled reports run for."""
    return list(session.execute(select(Unit.id).where(Unit.kind == "center").order_by(Unit.id)).scalars())
