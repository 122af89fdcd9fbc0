"""Transfers inside a deployment (岗位变动: 转移接续) and the membership history.

A volunteer belongs to exactly one home unit at any time, and to any number of teams; each
membership runs from `valid_from` to `valid_to` (exclusive, NULL = open).  A transfer closes
the home membership and opens the new one on one date, in one database transaction, under
the volunteer's row lock.  Hours stay attributed to the unit where they were served (service
postings carry the serving unit; `unit_minutes_served` never moves).  Points move only where
the funding of the two home units differs (policy `points.funding`: "unit" funds from the
home unit, otherwise the county at the root of the tree): then the volunteer's spendable
balance moves between the two `unit_points_issued` accounts.  Stars (星级) carry on unchanged.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.accounts import POINTS, account_id, balance
from ledger.book.postings import Leg, post
from ledger.errors import Conflict, NotFound, RedemptionInFlight, UnknownUnit, UnknownVolunteer, ValidationFailed
from ledger.incentives.funding import county_of, funding_unit
from ledger.incentives.pricing import ancestors, policy_in_force
from ledger.people.access import Principal, can_see_volunteer, require_role, require_team, require_unit
from ledger.people.tables import Membership, Team, Unit, Volunteer
from ledger.people.volunteers import lock_volunteer
from ledger.store.tables import AuditEntry
from ledger.transfers.tables import TransferPackage, VolunteerTransfer


@dataclass(frozen=True)
class TransferVolunteer:
    """Command: move a volunteer's home unit to another unit from a date."""

    volunteer_id: int
    to_unit_id: int
    effective_on: dt.date
    leave_team_ids: tuple[int, ...] = ()  # team memberships that end on the same date
    join_team_ids: tuple[int, ...] = ()  # teams joined on the same date
    role: str = "志愿者"
    reason: str = ""


def membership_public(membership: Membership, unit: Unit | None, team: Team | None) -> dict:
    """One membership period as shown to clients (valid_to is exclusive; None = open)."""
    return {"id": membership.id, "unit_id": membership.unit_id, "unit_name": unit.name if unit else None,
            "team_id": membership.team_id, "team_name": team.name if team else None,
            "is_home": membership.is_home, "role": membership.role,
            "valid_from": membership.valid_from.isoformat(),
            "valid_to": membership.valid_to.isoformat() if membership.valid_to else None,
            "ended_reason": membership.ended_reason}


def visible_volunteer(session: Session, principal: Principal, volunteer: Volunteer | None,
                      volunteer_id: int) -> Volunteer:
    """The volunteer when the principal may see them; else not found (never says which)."""
    if volunteer is None or not can_see_volunteer(session, principal, volunteer):
        raise UnknownVolunteer(f"volunteer {volunteer_id} not found", field="volunteer_id")
    return volunteer


def membership_history(session: Session, principal: Principal, volunteer_id: int) -> dict:
    """Every membership of a volunteer, oldest first, and the deployments they came from."""
    visible_volunteer(session, principal, session.get(Volunteer, volunteer_id), volunteer_id)
    rows = session.execute(
        select(Membership, Unit, Team).join(Unit, Unit.id == Membership.unit_id)
        .outerjoin(Team, Team.id == Membership.team_id)
        .where(Membership.volunteer_id == volunteer_id)
        .order_by(Membership.valid_from, Membership.id)).all()
    packages = session.execute(
        select(TransferPackage).where(TransferPackage.volunteer_id == volunteer_id)
        .order_by(TransferPackage.id)).scalars().all()
    return {"volunteer_id": volunteer_id,
            "memberships": [membership_public(m, unit, team) for m, unit, team in rows],
            "packages": [{"package_id": p.package_id, "direction": p.direction, "moved_on": p.moved_on.isoformat(),
                          "exported_at": p.exported_at.isoformat(), **_package_origin(p)} for p in packages]}


def _package_origin(package: TransferPackage) -> dict:
    """The other deployment and, for an arrival, the memberships held there."""
    result = package.result or {}
    return {"peer_deployment_id": result.get("peer_deployment_id"),
            "memberships_elsewhere": result.get("memberships_elsewhere", [])}


def open_home_membership(session: Session, volunteer_id: int) -> Membership:
    """The volunteer's current (open) home membership."""
    membership = session.execute(
        select(Membership).where(Membership.volunteer_id == volunteer_id, Membership.is_home.is_(True),
                                 Membership.valid_to.is_(None))
        .order_by(Membership.valid_from.desc()).limit(1)).scalar_one_or_none()
    if membership is None:
        raise Conflict("the volunteer has no open home membership", field="volunteer_id")
    return membership


def check_move_date(volunteer: Volunteer, home: Membership, on: dt.date, today: dt.date,
                    future_limit_days: int, field: str) -> None:
    """A move is dated after the current membership began and not too far in the future."""
    if on < volunteer.registered_on:
        raise ValidationFailed(
            f"{on.isoformat()} is before the volunteer joined ({volunteer.registered_on.isoformat()})",
            field=field)
    if on <= home.valid_from:
        raise ValidationFailed(
            f"the current home membership began on {home.valid_from.isoformat()}; "
            f"a move must be dated after that", field=field)
    limit = today + dt.timedelta(days=future_limit_days)
    if on > limit:
        raise ValidationFailed(
            f"{on.isoformat()} is more than {future_limit_days} days in the future (latest {limit.isoformat()})",
            field=field)


def refuse_in_flight(session: Session, volunteer_id: int) -> None:
    """Refuse while points are held for a redemption or reservation (call under the row lock)."""
    held = balance(session, "volunteer_points_held", volunteer_id)
    if held > 0:
        raise RedemptionInFlight(
            f"a redemption for this volunteer is in flight ({held} points held); "
            f"finish or cancel it first", field="volunteer_id", points_held=held)


def funding_account_owner(session: Session, home_unit_id: int, on: dt.date) -> int:
    """Who funds a volunteer homed at a unit on a date: that unit ("unit"), else its county."""
    _version, policy = policy_in_force(session, home_unit_id, on)
    return funding_unit(policy, home_unit_id, county_of(ancestors(session, home_unit_id)))


def transfer_volunteer(session: Session, principal: Principal, command: TransferVolunteer, *,
                       today: dt.date, future_limit_days: int) -> dict:
    """Move the home unit on a date: close and open memberships, move points where funded."""
    require_role(principal, "admin", "unit_admin")
    volunteer = visible_volunteer(session, principal, lock_volunteer_or_none(session, command.volunteer_id),
                                  command.volunteer_id)
    if volunteer.status != "active":
        raise Conflict("the volunteer has left this deployment", field="volunteer_id")
    to_unit = require_unit(session, principal, command.to_unit_id, field="to_unit_id", error=UnknownUnit)
    home = open_home_membership(session, volunteer.id)
    if to_unit.id == home.unit_id:
        raise ValidationFailed("the volunteer already belongs to this unit", field="to_unit_id")
    check_move_date(volunteer, home, command.effective_on, today, future_limit_days, field="effective_on")
    refuse_in_flight(session, volunteer.id)
    reason = (command.reason or "").strip()[:200] or f"调往{to_unit.name}"
    from_unit_id, on = home.unit_id, command.effective_on
    home.valid_to, home.ended_reason = on, reason
    opened = Membership(volunteer_id=volunteer.id, unit_id=to_unit.id, is_home=True,
                        role=command.role or "志愿者", valid_from=on)
    session.add(opened)
    teams = _move_teams(session, principal, volunteer.id, command, reason)
    volunteer.home_unit_id = to_unit.id
    session.flush()
    tx_id, moved = _move_points(session, volunteer.id, from_unit_id, to_unit.id, on, home.id, principal.username)
    move = VolunteerTransfer(volunteer_id=volunteer.id, from_unit_id=from_unit_id, to_unit_id=to_unit.id,
                             effective_on=on, closed_membership_id=home.id, opened_membership_id=opened.id,
                             points_moved=moved, transaction_id=tx_id, reason=reason, actor=principal.username)
    session.add(move)
    session.add(AuditEntry(actor=principal.username, action="volunteer.transfer",
                           target=f"volunteer:{volunteer.id}",
                           detail={"from_unit_id": from_unit_id, "to_unit_id": to_unit.id,
                                   "effective_on": on.isoformat(), "points_moved": moved}))
    session.flush()
    return {"transfer_id": move.id, "volunteer_id": volunteer.id, "from_unit_id": from_unit_id,
            "to_unit_id": to_unit.id, "effective_on": on.isoformat(), "points_moved": moved,
            "transaction_id": tx_id, "teams_left": teams[0], "teams_joined": teams[1]}


def lock_volunteer_or_none(session: Session, volunteer_id: int) -> Volunteer | None:
    """The volunteer's row under its lock, or None when there is no such volunteer."""
    try:
        return lock_volunteer(session, volunteer_id)
    except UnknownVolunteer:
        return None


def _move_teams(session: Session, principal: Principal, volunteer_id: int, command: TransferVolunteer,
                reason: str) -> tuple[list[int], list[int]]:
    """End the chosen team memberships and open the chosen new ones on the transfer date."""
    on = command.effective_on
    open_teams = {m.team_id: m for m in session.execute(
        select(Membership).where(Membership.volunteer_id == volunteer_id, Membership.team_id.is_not(None),
                                 Membership.valid_to.is_(None))).scalars()}
    for team_id in command.leave_team_ids:
        membership = open_teams.get(team_id)
        if membership is None:
            raise NotFound(f"the volunteer is not a member of team {team_id}", field="leave_team_ids")
        if membership.valid_from > on:
            raise ValidationFailed(f"team {team_id} membership begins after {on.isoformat()}",
                                   field="leave_team_ids")
        membership.valid_to, membership.ended_reason = on, reason
    for team_id in command.join_team_ids:
        team = require_team(session, principal, team_id, field="join_team_ids")
        if team_id in open_teams and team_id not in command.leave_team_ids:
            raise Conflict(f"the volunteer is already a member of team {team_id}", field="join_team_ids")
        session.add(Membership(volunteer_id=volunteer_id, unit_id=team.unit_id, team_id=team_id,
                               is_home=False, role=command.role or "志愿者", valid_from=on))
    return list(command.leave_team_ids), list(command.join_team_ids)


def _move_points(session: Session, volunteer_id: int, from_unit_id: int, to_unit_id: int, on: dt.date,
                 closed_membership_id: int, actor: str) -> tuple[int | None, int]:
    """Move the spendable balance between funders when the two homes are funded differently."""
    old_funder = funding_account_owner(session, from_unit_id, on - dt.timedelta(days=1))
    new_funder = funding_account_owner(session, to_unit_id, on)
    points = balance(session, "volunteer_points", volunteer_id)
    if old_funder == new_funder or points <= 0:
        return None, 0
    legs = [Leg(account_id(session, "unit_points_issued", old_funder), POINTS, points, volunteer_id, old_funder),
            Leg(account_id(session, "unit_points_issued", new_funder), POINTS, -points, volunteer_id, new_funder)]
    tx = post(session, kind="transfer", key=f"transfer:{volunteer_id}:{closed_membership_id}", occurred_on=on,
              actor=actor, legs=legs, volunteer_id=volunteer_id, unit_id=to_unit_id,
              memo=f"积分负债随志愿者转移：单位 {old_funder} → 单位 {new_funder}")
    return tx.id, points


def list_transfers(session: Session, principal: Principal, volunteer_id: int) -> list[dict]:
    """The volunteer's moves inside this deployment, oldest first."""
    visible_volunteer(session, principal, session.get(Volunteer, volunteer_id), volunteer_id)
    rows = session.execute(select(VolunteerTransfer).where(VolunteerTransfer.volunteer_id == volunteer_id)
                           .order_by(VolunteerTransfer.id)).scalars()
    return [{"transfer_id": t.id, "from_unit_id": t.from_unit_id, "to_unit_id": t.to_unit_id,
             "effective_on": t.effective_on.isoformat(), "points_moved": t.points_moved,
             "transaction_id": t.transaction_id, "reason": t.reason, "actor": t.actor} for t in rows]
