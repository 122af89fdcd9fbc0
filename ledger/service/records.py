"""Service records (服务记录): recorded → approved by a second person → posted to the ledger.

Posting credits the volunteer's hours (minutes) against the serving unit's account and
awards points under the policy in force on the service date, in one database transaction.
A posted record is corrected only by reversal (a new transaction), never by change.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.accounts import MINUTES, POINTS, account_ids
from ledger.book.postings import Leg, post, reverse, reversed_among
from ledger.book.tables import Transaction
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.incentives import pricing
from ledger.names import clean_name
from ledger.people.access import Principal, in_scope, path_in_scope, remember_path, require_role, require_volunteer
from ledger.people.tables import Unit, Volunteer
from ledger.people.users import require_second_person
from ledger.people.volunteers import lock_volunteer
from ledger.service.activities import require_activity
from ledger.service.tables import Activity, ServiceRecord
from ledger.store.tables import AuditEntry

MAX_MINUTES = 24 * 60


@dataclass(frozen=True)
class RecordService:
    """Command: record one volunteer's service in one activity."""

    volunteer_id: int
    activity_id: int
    started_at: dt.datetime  # local time (Asia/Shanghai), naive
    ended_at: dt.datetime
    minutes: int | None = None  # actual service, travel excluded; defaults to the span
    confirmed_by: str = ""  # organiser or the person served (确认人)
    service_kind: str | None = None
    source: str = "api"


def record_public(record: ServiceRecord) -> dict:
    """A service record as shown to clients."""
    return {"id": record.id, "volunteer_id": record.volunteer_id, "activity_id": record.activity_id,
            "unit_id": record.unit_id, "started_at": record.started_at.isoformat(),
            "ended_at": record.ended_at.isoformat(), "minutes": record.minutes,
            "service_kind": record.service_kind, "status": record.status,
            "reject_reason": record.reject_reason, "recorded_by": record.recorded_by,
            "approved_by": record.approved_by, "confirmed_by": record.confirmed_by,
            "rating": record.rating, "complaint_upheld": record.complaint_upheld,
            "transaction_id": record.transaction_id, "source": record.source}


def check_times(started_at: dt.datetime, ended_at: dt.datetime, minutes: int | None,
                now_local: dt.datetime) -> int:
    """Validate a service period; returns the minutes to credit (field and reason on error)."""
    if ended_at <= started_at:
        raise ValidationFailed("结束时间必须晚于开始时间 (ended_at must be after started_at)", field="ended_at")
    span = int((ended_at - started_at).total_seconds() // 60)
    if span < 1:  # a sign-out in the same minute as the sign-in: no whole minute to credit
        raise ValidationFailed("服务时长不足 1 分钟 (a service lasts at least one whole minute)", field="ended_at")
    if span > MAX_MINUTES:
        raise ValidationFailed("一条服务记录不能超过一天（24 小时） "
                               "(a service record cannot be longer than one day: 24 hours)",
                               field="ended_at")
    if ended_at > now_local + dt.timedelta(minutes=5):
        raise ValidationFailed("服务结束时间不能晚于现在 (a service cannot end in the future)", field="ended_at")
    if minutes is None:
        return span
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise ValidationFailed("minutes must be a positive whole number", field="minutes")
    if minutes > span:
        raise ValidationFailed(
            f"minutes ({minutes}) exceed the time between start and end ({span})", field="minutes")
    return minutes


def check_service_date(started_at: dt.datetime, held_on: dt.date, registered_on: dt.date | None) -> None:
    """A service starts on its activity's day (it may run past midnight), not before the volunteer registered."""
    day = started_at.date()
    if day != held_on:
        raise ValidationFailed(f"服务日期 {day} 不是活动当天 {held_on}，服务记录应记在其活动的日期 "
                               f"(a service starts on its activity's day, {held_on}, not {day})", field="started_at")
    if registered_on is not None and day < registered_on:
        raise ValidationFailed(f"服务日期 {day} 早于志愿者的注册日期 {registered_on} "
                               f"(a service cannot be before the volunteer registered, {registered_on})",
                               field="started_at")


def record_service(session: Session, principal: Principal, command: RecordService,
                   now_local: dt.datetime, *, volunteer_checked: bool = False) -> ServiceRecord:
    """Record a service as pending; refused when it overlaps the volunteer's other records.

    The volunteer must be in the recorder's scope, unless `volunteer_checked`: the id was
    resolved where it entered (a check-in scan is the volunteer's own; `checkin.sign_by_hand`).
    """
    require_role(principal, "admin", "unit_admin")
    minutes = check_times(command.started_at, command.ended_at, command.minutes, now_local)
    confirmed_by = clean_name(command.confirmed_by, "confirmed_by", label="确认人", allow_empty=True)
    service_kind = clean_name(command.service_kind, "service_kind", max_length=40, label="服务方式",
                              allow_empty=True) or None
    activity = require_activity(session, principal, command.activity_id)
    if not volunteer_checked:
        require_volunteer(session, principal, command.volunteer_id)
    volunteer = lock_volunteer(session, command.volunteer_id)
    if volunteer.status != "active":
        raise Conflict("the volunteer has left this deployment", field="volunteer_id")
    check_service_date(command.started_at, activity.held_on, volunteer.registered_on)
    _refuse_overlap(session, command)
    record = ServiceRecord(volunteer_id=command.volunteer_id, activity_id=activity.id,
                           unit_id=activity.unit_id, started_at=command.started_at,
                           ended_at=command.ended_at, minutes=minutes, service_kind=service_kind,
                           recorded_by=principal.user_id, confirmed_by=confirmed_by,
                           status="pending", source=command.source)
    session.add(record)
    session.flush()
    return record


def _refuse_overlap(session: Session, command: RecordService) -> None:
    clash = session.execute(
        select(ServiceRecord.id, ServiceRecord.started_at, ServiceRecord.ended_at).where(
            ServiceRecord.volunteer_id == command.volunteer_id,
            ServiceRecord.status.in_(("pending", "posted")),
            ServiceRecord.started_at < command.ended_at,
            ServiceRecord.ended_at > command.started_at,
        ).limit(1)
    ).first()
    if clash is not None:
        raise Conflict(
            f"与该志愿者的服务记录 {clash.id}（{clash.started_at:%Y-%m-%d %H:%M}–{clash.ended_at:%H:%M}）时间重叠 "
            f"(overlaps service record {clash.id} ({clash.started_at:%Y-%m-%d %H:%M}–"
            f"{clash.ended_at:%H:%M}) of the same volunteer)", field="started_at", record_id=clash.id)


def require_record(session: Session, principal: Principal, record_id: int,
                   fresh: bool = False) -> ServiceRecord:
    """A service record whose unit lies in scope (volunteers: their own).

    `fresh`: read from the database even when the session already holds the record.
    """
    return _require_record_and_activity(session, principal, record_id, fresh)[0]


def _require_record_and_activity(session: Session, principal: Principal, record_id: int,
                                 fresh: bool = False) -> tuple[ServiceRecord, Activity]:
    # the record with its unit's path and its activity, in one statement
    query = (select(ServiceRecord, Unit.path, Activity).join(Unit, Unit.id == ServiceRecord.unit_id)
             .join(Activity, Activity.id == ServiceRecord.activity_id).where(ServiceRecord.id == record_id))
    if fresh:
        query = query.execution_options(populate_existing=True)
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"service record {record_id} not found", field="record_id")
    record, path = row[0], row[1]
    remember_path(session, record.unit_id, path)
    if principal.role == "volunteer":
        if record.volunteer_id != principal.volunteer_id:
            raise NotFound(f"service record {record_id} not found", field="record_id")
        return record, row[2]
    if not in_scope(principal, path):
        raise NotFound(f"service record {record_id} not found", field="record_id")
    return record, row[2]


def approve_record(session: Session, principal: Principal, record_id: int) -> ServiceRecord:
    """Approve a pending record (by someone other than its recorder) and post it."""
    require_role(principal, "admin", "unit_admin")
    volunteer = lock_volunteer_of_record(session, record_id)  # kept: pricing reads it again
    record, activity = _require_record_and_activity(session, principal, record_id, fresh=True)
    if record.status != "pending":
        raise Conflict(f"only a pending record can be approved; this one is {record.status}",
                       field="status")
    require_second_person(principal, record.recorded_by)
    post_record(session, record, actor=principal.username, activity=activity)
    # set last, with post_record's status and transaction: one UPDATE of the record at commit
    record.approved_by = principal.user_id
    record.decided_at = dt.datetime.now(dt.timezone.utc)
    del volunteer
    return record


def lock_volunteer_of_record(session: Session, record_id: int) -> Volunteer | None:
    """Take the row lock of a record's volunteer, found through the record (None: no record).

    The record itself is read after the lock (`require_record(..., fresh=True)`), so a
    concurrent approval or reversal that committed while we waited is seen.
    """
    row = session.execute(
        select(Volunteer, Unit.path).join(Unit, Unit.id == Volunteer.home_unit_id)
        .where(Volunteer.id == select(ServiceRecord.volunteer_id)
               .where(ServiceRecord.id == record_id).scalar_subquery())
        .with_for_update(of=Volunteer)
    ).first()
    if row is None:
        return None
    remember_path(session, row[0].home_unit_id, row[1])  # pricing reads the home unit's policy
    return row[0]


def post_record(session: Session, record: ServiceRecord, *, actor: str,
                activity: Activity | None = None) -> Transaction:
    """Post an approved record: hours and points, priced by the policy in force, and stars."""
    activity = activity or session.get(Activity, record.activity_id)
    priced = pricing.price_record(session, record, activity)
    volunteer_id, unit_id = record.volunteer_id, record.unit_id
    ids = account_ids(session, [("volunteer_minutes", volunteer_id), ("unit_minutes_served", unit_id),
                                ("volunteer_points", volunteer_id),
                                ("unit_points_issued", priced.funding_unit_id)])
    legs = [
        Leg(ids[("volunteer_minutes", volunteer_id)], MINUTES, priced.credited_minutes, volunteer_id, unit_id),
        Leg(ids[("unit_minutes_served", unit_id)], MINUTES, -priced.credited_minutes, volunteer_id, unit_id),
        Leg(ids[("volunteer_points", volunteer_id)], POINTS, priced.points, volunteer_id, unit_id),
        Leg(ids[("unit_points_issued", priced.funding_unit_id)], POINTS, -priced.points,
            volunteer_id, priced.funding_unit_id),
    ]
    service_date = record.started_at.date()
    tx = post(session, kind="service", key=f"service:{record.id}", occurred_on=service_date,
              actor=actor, legs=legs, volunteer_id=volunteer_id, unit_id=unit_id,
              policy_version_id=priced.policy_version_id, service_record_id=record.id,
              memo=priced.memo)
    pricing.update_star_level(session, volunteer_id, service_date, tx.id, reason=f"service record {record.id}")
    record.transaction_id = tx.id
    record.status = "posted"
    return tx


def reject_record(session: Session, principal: Principal, record_id: int, reason: str) -> ServiceRecord:
    """Reject a pending record with a reason; nothing is posted."""
    require_role(principal, "admin", "unit_admin")
    if not reason or not reason.strip():
        raise ValidationFailed("a rejection needs a reason", field="reason")
    record = require_record(session, principal, record_id)
    if record.status != "pending":
        raise Conflict(f"only a pending record can be rejected; this one is {record.status}",
                       field="status")
    record.status, record.reject_reason = "rejected", reason.strip()
    record.approved_by, record.decided_at = principal.user_id, dt.datetime.now(dt.timezone.utc)
    return record


def reverse_record(session: Session, principal: Principal, record_id: int, reason: str,
                   today: dt.date) -> ServiceRecord:
    """Reverse a posted record: every transaction it posted is reversed, stars re-derived."""
    require_role(principal, "admin", "unit_admin")
    if not reason or not reason.strip():
        raise ValidationFailed("a reversal needs a reason", field="reason")
    record = require_record(session, principal, record_id)
    lock_volunteer(session, record.volunteer_id)
    session.refresh(record)
    if record.status == "reversed":
        raise Conflict("this record is already reversed", field="record_id")
    if record.status != "posted":
        raise Conflict(f"only a posted record can be reversed; this one is {record.status}",
                       field="status")
    reversal_id = None
    for tx_id in _record_transactions(session, record.id):
        reversal_id = reverse(session, tx_id, actor=principal.username, occurred_on=today,
                              memo=f"冲正服务记录 {record.id}：{reason.strip()}").id
    record.status = "reversed"
    pricing.update_star_level(session, record.volunteer_id, today, reversal_id,
                              reason=f"reversal of service record {record.id}")
    session.add(AuditEntry(actor=principal.username, action="record.reverse",
                           target=f"service_record:{record.id}", detail={"reason": reason.strip()}))
    return record


def _record_transactions(session: Session, record_id: int) -> list[int]:
    """The record's own transactions (service, rating bonus) that are not yet reversed."""
    ids = session.execute(
        select(Transaction.id).where(Transaction.service_record_id == record_id,
                                     Transaction.reverses_id.is_(None)).order_by(Transaction.id)
    ).scalars().all()
    reversed_ids = reversed_among(session, ids)
    return [tx_id for tx_id in ids if tx_id not in reversed_ids]


def list_records(session: Session, principal: Principal, *, status: str | None, volunteer_id: int | None,
                 unit_id: int | None, limit: int, offset: int) -> list[dict]:
    """Service records the principal may see (a volunteer: their own), newest first."""
    query = select(ServiceRecord).join(Unit, Unit.id == ServiceRecord.unit_id)
    if principal.role == "volunteer":
        query = query.where(ServiceRecord.volunteer_id == principal.volunteer_id)
    else:
        query = query.where(path_in_scope(principal, Unit.path))
    if status:
        query = query.where(ServiceRecord.status == status)
    if volunteer_id is not None:
        query = query.where(ServiceRecord.volunteer_id == volunteer_id)
    if unit_id is not None:
        query = query.where(ServiceRecord.unit_id == unit_id)
    rows = session.execute(query.order_by(ServiceRecord.id.desc()).limit(limit).offset(offset)).scalars()
    return [record_public(r) for r in rows]
