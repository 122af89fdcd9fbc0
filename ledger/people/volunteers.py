"""Volunteers (志愿者): registration, lookup, and the public form of a volunteer.

The ID-card number (身份证号) is never stored: only a keyed hash (for lookup) and a
masked form (for display).  The phone number likewise.  The volunteer number (志愿者编号)
is public and is never derived from the ID-card number.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.tables import Account
from ledger.errors import Conflict, NotFound, UnknownVolunteer, ValidationFailed
from ledger.names import clean_name
from ledger.people.access import Principal, path_in_scope, require_role, require_team, require_unit, require_volunteer
from ledger.people.idcard import keyed_hash, mask_id_number, mask_phone, validate_id_number, validate_phone
from ledger.people.tables import Membership, Unit, Volunteer
from ledger.store.tables import AuditEntry


@dataclass(frozen=True)
class RegisterVolunteer:
    """Command: register a volunteer with a home unit (and optionally teams)."""

    name: str
    home_unit_id: int
    id_number: str | None = None
    phone: str | None = None
    is_party_member: bool = False
    registered_on: dt.date | None = None
    team_ids: tuple[int, ...] = ()


def volunteer_public(volunteer: Volunteer) -> dict:
    """A volunteer as shown to clients: personal numbers masked."""
    return {"id": volunteer.id, "number": volunteer.number, "name": volunteer.name,
            "id_type": volunteer.id_type, "id_masked": volunteer.id_masked,
            "phone_masked": volunteer.phone_masked, "is_party_member": volunteer.is_party_member,
            "registered_on": volunteer.registered_on.isoformat(),
            "home_unit_id": volunteer.home_unit_id, "status": volunteer.status}


def id_hash(secret: bytes, id_number: str) -> str:
    """The keyed lookup hash of a (validated) ID-card number."""
    return keyed_hash(validate_id_number(id_number, field="id_number"), secret)


def register_volunteer(session: Session, principal: Principal, secret: bytes,
                       command: RegisterVolunteer, today: dt.date) -> Volunteer:
    """Register a volunteer at a unit in scope; one volunteer per ID-card number."""
    require_role(principal, "admin", "unit_admin")
    require_unit(session, principal, command.home_unit_id, field="home_unit_id")
    clean_name(command.name, "name", label="姓名")  # refused before the ID number is looked at
    registered_on = command.registered_on or today
    if registered_on > today:
        raise ValidationFailed("registered_on cannot be in the future", field="registered_on")
    hashed = masked = phone_hashed = phone_masked = None
    if command.id_number:
        hashed = id_hash(secret, command.id_number)
        masked = mask_id_number(command.id_number)
    if command.phone:
        phone = validate_phone(command.phone, field="phone")
        phone_hashed, phone_masked = keyed_hash(phone, secret), mask_phone(phone)
    return add_volunteer(session, principal, command, registered_on, Identity(hashed, masked, phone_hashed,
                                                                              phone_masked))


@dataclass(frozen=True)
class Identity:
    """A volunteer's personal numbers as stored: keyed hashes and masks only."""

    id_hash: str | None
    id_masked: str | None
    phone_hash: str | None = None
    phone_masked: str | None = None


def add_volunteer(session: Session, principal: Principal, command: RegisterVolunteer, registered_on: dt.date,
                  identity: Identity) -> Volunteer:
    """Add the volunteer, their home membership and teams (numbers already hashed; scope checked)."""
    if identity.id_hash and session.execute(select(Volunteer.id).where(Volunteer.id_hash == identity.id_hash)).first():
        # one answer wherever the volunteer is registered: no name, number or unit is given away
        raise Conflict("该身份证号已登记为志愿者；如从其他单位转来，请由共同的上级单位办理转移接续",
                       field="id_number")
    volunteer = Volunteer(number=new_volunteer_number(session, registered_on),
                          name=clean_name(command.name, "name", label="姓名"),
                          id_hash=identity.id_hash, id_masked=identity.id_masked, phone_hash=identity.phone_hash,
                          phone_masked=identity.phone_masked, is_party_member=command.is_party_member,
                          registered_on=registered_on, home_unit_id=command.home_unit_id, status="active")
    session.add(volunteer)
    session.flush()
    session.add(Membership(volunteer_id=volunteer.id, unit_id=command.home_unit_id, is_home=True,
                           valid_from=registered_on))
    for team_id in command.team_ids:
        team = require_team(session, principal, team_id, field="team_ids")
        session.add(Membership(volunteer_id=volunteer.id, unit_id=team.unit_id, team_id=team_id,
                               is_home=False, valid_from=registered_on))
    session.add(AuditEntry(actor=principal.username, action="volunteer.register",
                           target=f"volunteer:{volunteer.id}", detail={"number": volunteer.number}))
    return volunteer


def new_volunteer_number(session: Session, registered_on: dt.date) -> str:
    """A fresh public volunteer number: year + 8 random digits (never from the ID card)."""
    for _ in range(20):
        number = f"V{registered_on.year}{secrets.randbelow(10**8):08d}"
        if not session.execute(select(Volunteer.id).where(Volunteer.number == number)).first():
            return number
    raise Conflict("could not allocate a volunteer number; retry", field="number")


def find_by_number(session: Session, number: str) -> Volunteer:
    """The volunteer with this public number."""
    volunteer = session.execute(select(Volunteer).where(Volunteer.number == number)).scalar_one_or_none()
    if volunteer is None:
        raise UnknownVolunteer(f"no volunteer with number {number!r}", field="number")
    return volunteer


def find_by_id_number(session: Session, secret: bytes, id_number: str) -> Volunteer:
    """The volunteer with this ID-card number, found through its keyed hash."""
    hashed = id_hash(secret, id_number)
    volunteer = session.execute(select(Volunteer).where(Volunteer.id_hash == hashed)).scalar_one_or_none()
    if volunteer is None:
        raise UnknownVolunteer("no volunteer with this ID-card number", field="id_number")
    return volunteer


def get_volunteer(session: Session, principal: Principal, volunteer_id: int) -> dict:
    """One volunteer, when in the principal's scope."""
    return volunteer_public(require_volunteer(session, principal, volunteer_id))


def lock_volunteer(session: Session, volunteer_id: int) -> Volunteer:
    """Take the volunteer's row lock: writes for one volunteer are serialised (PostgreSQL).

    On SQLite every write transaction already holds the database write lock (BEGIN IMMEDIATE).
    """
    volunteer = session.execute(
        select(Volunteer).where(Volunteer.id == volunteer_id).with_for_update()
    ).scalar_one_or_none()
    if volunteer is None:
        raise UnknownVolunteer(f"volunteer {volunteer_id} does not exist", field="volunteer_id")
    return volunteer


def keyed_hash_or_none(secret: bytes, value: str | None) -> str | None:
    """The keyed hash of a personal number, or None (for request fingerprints and lookups)."""
    return keyed_hash(value.strip(), secret) if value else None


def list_volunteers(session: Session, principal: Principal, *, unit_id: int | None, number: str | None,
                    limit: int, offset: int) -> list[dict]:
    """Volunteers registered in the principal's scope, by id, optionally of one unit or number."""
    require_role(principal, "admin", "unit_admin", "auditor", "desk_operator")
    query = (select(Volunteer).join(Unit, Unit.id == Volunteer.home_unit_id)
             .where(path_in_scope(principal, Unit.path)))
    if unit_id is not None:
        query = query.where(Volunteer.home_unit_id == unit_id)
    if number is not None:
        query = query.where(Volunteer.number == number)
    rows = session.execute(query.order_by(Volunteer.id).limit(limit).offset(offset)).scalars()
    return [volunteer_public(v) for v in rows]


def volunteer_id_for_code(session: Session, number: str | None) -> int:
    """The volunteer a sign-in code is issued for: by number, or (none given) the active one with most hours."""
    if number:
        found = session.execute(select(Volunteer.id).where(Volunteer.number == number)).scalar_one_or_none()
    else:
        found = session.execute(
            select(Volunteer.id).join(Account, (Account.owner_id == Volunteer.id)
                                      & (Account.kind == "volunteer_minutes"), isouter=True)
            .where(Volunteer.status == "active")
            .order_by(Account.balance.desc().nulls_last(), Volunteer.id).limit(1)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"没有编号为 {number} 的志愿者" if number else "还没有志愿者", field="number")
    return found
