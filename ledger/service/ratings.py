"""评单: the served resident's rating of a posted service, and an upheld complaint.

A rating comes after the record is posted, so its quality bonus (or malus) is its own
transaction (`rating:{record}`), priced by the same policy version that priced the record:
the points with the rating's multiplier minus the points without it, under the same facts.
An upheld complaint acts on points as the policy says (`policy.complaint_takes`: zero the
record's points, zero the points of the volunteer's records in that activity, or deduct a
number of points; hours only under "zero_hours_and_points") by an explicit
`complaint:{record}` transaction; stars follow the hours.  Each happens once.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.accounts import MINUTES, POINTS, account_id
from ledger.book.postings import Leg, get_transaction, post
from ledger.errors import Conflict, ValidationFailed
from ledger.incentives import pricing
from ledger.incentives.policy import Policy, complaint_takes
from ledger.people.access import Principal, require_role
from ledger.people.tables import Volunteer
from ledger.people.volunteers import lock_volunteer
from ledger.service.records import record_public, require_record
from ledger.service.tables import Activity, ServiceRecord
from ledger.store.tables import AuditEntry


@dataclass(frozen=True)
class RateService:
    """Command: record the 评单 of a posted service (rating 1–5) and/or an upheld complaint."""

    rating: int | None = None
    complaint_upheld: bool = False


def _check(command: RateService) -> None:
    if command.rating is None and not command.complaint_upheld:
        raise ValidationFailed("give a rating (1 to 5) or complaint_upheld", field="rating")
    if command.rating is not None and (isinstance(command.rating, bool) or not isinstance(command.rating, int)
                                       or not 1 <= command.rating <= 5):
        raise ValidationFailed("rating must be a whole number from 1 to 5", field="rating")


def rate_record(session: Session, principal: Principal, record_id: int, command: RateService,
                today: dt.date) -> dict:
    """Rate a posted record and/or uphold a complaint; returns the record and what was posted."""
    require_role(principal, "admin", "unit_admin")
    _check(command)
    record = require_record(session, principal, record_id)
    lock_volunteer(session, record.volunteer_id)
    session.refresh(record)
    if record.status != "posted":
        raise Conflict(f"only a posted record can be rated; this one is {record.status}", field="status")
    if command.rating is not None and record.rating is not None:
        raise Conflict(f"this record was already rated {record.rating}", field="rating")
    if command.complaint_upheld and record.complaint_upheld:
        raise Conflict("a complaint against this record was already upheld", field="complaint_upheld")
    version_id = get_transaction(session, record.transaction_id).policy_version_id
    policy = pricing.policy_of_version(session, version_id)
    posted = {}
    if command.rating is not None:
        posted["rating"] = _post_rating(session, principal, record, policy, version_id, command.rating)
    if command.complaint_upheld:
        posted["complaint"] = _post_complaint(session, principal, record, policy, version_id, today)
    return {"record": record_public(record), **posted}


def _legs(session: Session, record: ServiceRecord, policy: Policy, minutes: int, points: int) -> list[Leg]:
    volunteer_id, unit_id = record.volunteer_id, record.unit_id
    home_unit_id = session.execute(select(Volunteer.home_unit_id).where(Volunteer.id == volunteer_id)).scalar_one()
    funder = pricing.funding_unit(session, policy, record, home_unit_id)
    return [
        Leg(account_id(session, "volunteer_minutes", volunteer_id), MINUTES, minutes, volunteer_id, unit_id),
        Leg(account_id(session, "unit_minutes_served", unit_id), MINUTES, -minutes, volunteer_id, unit_id),
        Leg(account_id(session, "volunteer_points", volunteer_id), POINTS, points, volunteer_id, unit_id),
        Leg(account_id(session, "unit_points_issued", funder), POINTS, -points, volunteer_id, funder),
    ]


def _post_rating(session: Session, principal: Principal, record: ServiceRecord, policy: Policy,
                 version_id: int | None, rating: int) -> dict:
    activity = session.get(Activity, record.activity_id)
    facts = pricing.facts_for(session, record, activity, rating=None, exclude_self=True)
    bonus = policy.rating_bonus(facts, rating)
    record.rating = rating
    tx = post(session, kind="rating", key=f"rating:{record.id}", occurred_on=record.started_at.date(),
              actor=principal.username, legs=_legs(session, record, policy, 0, bonus),
              volunteer_id=record.volunteer_id, unit_id=record.unit_id, policy_version_id=version_id,
              service_record_id=record.id,
              memo=f"评单 {rating} 分（服务记录 {record.id}）：{bonus:+d} 积分")
    return {"transaction_id": tx.id, "points": bonus, "policy_version_id": version_id}


def _post_complaint(session: Session, principal: Principal, record: ServiceRecord, policy: Policy,
                    version_id: int | None, today: dt.date) -> dict:
    record.complaint_upheld = True
    in_activity = session.execute(select(ServiceRecord.id).where(
        ServiceRecord.volunteer_id == record.volunteer_id, ServiceRecord.activity_id == record.activity_id,
        ServiceRecord.status == "posted")).scalars().all() if policy.complaint_upheld == "zero_activity_points" else []
    awarded = pricing.record_amounts(session, sorted(set(in_activity) | {record.id}))
    minutes, points = complaint_takes(policy, *awarded[record.id],
                                      sum(points for _minutes, points in awarded.values()))
    tx = post(session, kind="complaint", key=f"complaint:{record.id}", occurred_on=record.started_at.date(),
              actor=principal.username, legs=_legs(session, record, policy, -minutes, -points),
              volunteer_id=record.volunteer_id, unit_id=record.unit_id, policy_version_id=version_id,
              service_record_id=record.id,
              memo=f"投诉属实（服务记录 {record.id}）：{-points:+d} 积分，{-minutes:+d} 分钟")
    session.add(AuditEntry(actor=principal.username, action="record.complaint_upheld",
                           target=f"service_record:{record.id}", detail={"points": -points, "minutes": -minutes}))
    star = None
    if minutes:
        event = pricing.update_star_level(session, record.volunteer_id, today, tx.id,
                                          reason=f"complaint upheld against service record {record.id}")
        star = event and {"level_before": event.level_before, "level_after": event.level_after}
    return {"transaction_id": tx.id, "points": -points, "minutes": -minutes, "policy_version_id": version_id,
            "star_change": star}
