"""Joining from the phone (实名注册): a person applies to a station with their real name and ID
number; they become a volunteer when the station confirms.

The ID number is checked (GB 11643 check digit, `idcard.validate_id_number`) and stored like
every ID number: a keyed hash for lookup and a mask for display.  A person already
registered, anywhere in this deployment, is told so without learning which unit holds them;
one pending application per ID number.  The public form answers a challenge and is limited
per address.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.errors import Conflict, NotFound, TooManyAttempts, UnknownUnit, ValidationFailed
from ledger.people.access import Principal, path_in_scope, require_role, require_unit
from ledger.people.challenge import check_challenge
from ledger.people.idcard import keyed_hash, mask_id_number, mask_phone, validate_id_number, validate_phone
from ledger.people.tables import Unit, Volunteer, VolunteerApplication
from ledger.people.volunteers import Identity, RegisterVolunteer, add_volunteer, volunteer_public

PER_ADDRESS_PER_HOUR = 5
ALREADY = ("该身份证号已注册为志愿者，无需重复注册；如需转到本站，请联系原所在站点办理转移接续 "
           "(this ID number is already registered as a volunteer)")


@dataclass(frozen=True)
class Apply:
    """Command: apply to join a station (实名注册)."""

    unit_id: int
    name: str
    id_number: str
    phone: str | None = None


def application_public(application: VolunteerApplication) -> dict:
    """An application as shown to the station (numbers masked)."""
    return {"id": application.id, "unit_id": application.unit_id, "name": application.name,
            "id_masked": application.id_masked, "phone_masked": application.phone_masked,
            "status": application.status, "applied_at": application.applied_at.isoformat(),
            "reason": application.reason, "volunteer_id": application.volunteer_id}


def apply(session: Session, secret: bytes, command: Apply, *, now: dt.datetime, today: dt.date,
          client_address: str | None, challenge: str | None, answer: str | None,
          per_address: int = PER_ADDRESS_PER_HOUR) -> dict:
    """Apply from the phone; refused for a bad ID number, a registered person, a pending twin."""
    check_challenge(secret, challenge, answer, now)
    unit = session.get(Unit, command.unit_id)
    if unit is None:
        raise UnknownUnit(f"站点 {command.unit_id} 不存在，请重新选择 (unit not found)", field="unit_id")
    if not command.name or not command.name.strip():
        raise ValidationFailed("请填写真实姓名 (name must not be empty)", field="name")
    id_number = validate_id_number(command.id_number, field="id_number", today=today)
    hashed = keyed_hash(id_number, secret)
    if session.execute(select(Volunteer.id).where(Volunteer.id_hash == hashed)).first():
        raise Conflict(ALREADY, field="id_number")
    if session.execute(select(VolunteerApplication.id).where(VolunteerApplication.id_hash == hashed,
                                                             VolunteerApplication.status == "pending")).first():
        raise Conflict("该身份证号已有一份待审核的申请，请耐心等待站点确认 (an application is already pending)",
                       field="id_number")
    client_hash = keyed_hash(f"client:{client_address}", secret) if client_address else None
    if client_hash and session.execute(select(func.count()).where(
            VolunteerApplication.client_hash == client_hash,
            VolunteerApplication.applied_at > now - dt.timedelta(hours=1))).scalar_one() >= per_address:
        raise TooManyAttempts("本网络一小时内申请次数过多，请稍后再试 (too many applications)", field="id_number")
    phone = validate_phone(command.phone, field="phone") if command.phone else None
    application = VolunteerApplication(
        unit_id=unit.id, name=command.name.strip(), id_hash=hashed, id_masked=mask_id_number(id_number),
        phone_hash=keyed_hash(phone, secret) if phone else None, phone_masked=mask_phone(phone) if phone else None,
        status="pending", applied_at=now, client_hash=client_hash)
    session.add(application)
    session.flush()
    return {"id": application.id, "status": "pending", "unit_name": unit.name,
            "message": "申请已提交，站点确认后即成为志愿者"}


def _pending(session: Session, principal: Principal, application_id: int) -> VolunteerApplication:
    require_role(principal, "admin", "unit_admin")
    application = session.execute(select(VolunteerApplication).where(VolunteerApplication.id == application_id)
                                  .with_for_update()).scalar_one_or_none()
    if application is None:
        raise NotFound(f"申请 {application_id} 不存在 (application not found)", field="application_id")
    require_unit(session, principal, application.unit_id, field="application_id")
    if application.status != "pending":
        raise Conflict(f"该申请已处理（{application.status}）(the application was already decided)", field="status")
    return application


def confirm(session: Session, principal: Principal, application_id: int, now: dt.datetime, today: dt.date) -> dict:
    """The station confirms: the applicant becomes a volunteer of the station."""
    application = _pending(session, principal, application_id)
    if session.execute(select(Volunteer.id).where(Volunteer.id_hash == application.id_hash)).first():
        raise Conflict(ALREADY, field="id_number")
    volunteer = add_volunteer(session, principal, RegisterVolunteer(name=application.name,
                                                                    home_unit_id=application.unit_id),
                              today, Identity(application.id_hash, application.id_masked,
                                              application.phone_hash, application.phone_masked))
    application.status, application.volunteer_id = "confirmed", volunteer.id
    application.decided_by, application.decided_at = principal.user_id, now
    return {"application": application_public(application), "volunteer": volunteer_public(volunteer)}


def refuse(session: Session, principal: Principal, application_id: int, reason: str, now: dt.datetime) -> dict:
    """The station refuses an application, with a reason."""
    if not reason or not reason.strip():
        raise ValidationFailed("请填写不予通过的理由 (a refusal needs a reason)", field="reason")
    application = _pending(session, principal, application_id)
    application.status, application.reason = "refused", reason.strip()[:400]
    application.decided_by, application.decided_at = principal.user_id, now
    return application_public(application)


def list_applications(session: Session, principal: Principal, status: str | None = "pending") -> list[dict]:
    """The station's queue of applications (its subtree), oldest first."""
    require_role(principal, "admin", "unit_admin", "auditor")
    query = (select(VolunteerApplication).join(Unit, Unit.id == VolunteerApplication.unit_id)
             .where(path_in_scope(principal, Unit.path)))
    if status:
        query = query.where(VolunteerApplication.status == status)
    return [application_public(a) for a in session.execute(query.order_by(VolunteerApplication.id).limit(500))
            .scalars()]
