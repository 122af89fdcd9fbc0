"""Service records as the staff console lists them: with the volunteer's name and number, the
activity's title and date and who recorded them (the approval queue, one activity's grid).

Reads only; scoped like `records.list_records` (the principal's subtree)."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ledger.book.amounts import hours_text
from ledger.people.access import Principal, path_in_scope, require_role
from ledger.people.tables import Unit, User, Volunteer
from ledger.service.activities import require_activity
from ledger.service.tables import Activity, ServiceRecord

MAX_ROWS = 500


def _listed(session: Session, principal: Principal, condition, limit: int) -> list[dict]:
    recorder, approver = aliased(User), aliased(User)
    rows = session.execute(
        select(ServiceRecord, Volunteer.name, Volunteer.number, Activity.title, Activity.held_on,
               recorder.username, approver.username, Unit.name)
        .join(Unit, Unit.id == ServiceRecord.unit_id)
        .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .join(recorder, recorder.id == ServiceRecord.recorded_by)
        .outerjoin(approver, approver.id == ServiceRecord.approved_by)
        .where(path_in_scope(principal, Unit.path), condition)
        .order_by(Activity.held_on.desc(), ServiceRecord.id.desc()).limit(min(limit, MAX_ROWS))).all()
    return [{"id": r.id, "volunteer_id": r.volunteer_id, "volunteer_name": name, "volunteer_number": number,
             "activity_id": r.activity_id, "activity_title": title, "held_on": held_on.isoformat(),
             "unit_name": unit_name, "started_at": r.started_at.strftime("%Y-%m-%d %H:%M"),
             "ended_at": r.ended_at.strftime("%H:%M"), "minutes": r.minutes, "hours": hours_text(r.minutes),
             "status": r.status, "reject_reason": r.reject_reason, "recorded_by": recorded_by,
             "approved_by": approved_by, "is_mine": r.recorded_by == principal.user_id}
            for r, name, number, title, held_on, recorded_by, approved_by, unit_name in rows]


def approval_queue(session: Session, principal: Principal, limit: int = 200) -> list[dict]:
    """Pending records in scope, for the second person to approve or refuse."""
    require_role(principal, "admin", "unit_admin", "auditor")
    return _listed(session, principal, ServiceRecord.status == "pending", limit)


def recent_records(session: Session, principal: Principal, status: str | None, limit: int = 100) -> list[dict]:
    """Records in scope, newest activity first, optionally of one status."""
    require_role(principal, "admin", "unit_admin", "auditor")
    condition = ServiceRecord.status == status if status else ServiceRecord.id.is_not(None)
    return _listed(session, principal, condition, limit)


def activity_records(session: Session, principal: Principal, activity_id: int) -> tuple[dict, list[dict]]:
    """One activity in scope and its records."""
    activity = require_activity(session, principal, activity_id)
    unit_name = session.execute(select(Unit.name).where(Unit.id == activity.unit_id)).scalar_one()
    info = {"id": activity.id, "title": activity.title, "category": activity.category,
            "held_on": activity.held_on.isoformat(), "unit_id": activity.unit_id, "unit_name": unit_name,
            "place": activity.place, "is_concentrated": activity.is_concentrated}
    return info, _listed(session, principal, ServiceRecord.activity_id == activity_id, MAX_ROWS)


def pending_batches(session: Session, principal: Principal) -> list[dict]:
    """Import batches (台账导入) with records pending in scope, newest first, with who uploaded them."""
    require_role(principal, "admin", "unit_admin", "auditor")
    rows = session.execute(
        select(ServiceRecord.source, func.count(), func.sum(ServiceRecord.minutes), func.min(User.username),
               func.min(ServiceRecord.recorded_by))
        .join(Unit, Unit.id == ServiceRecord.unit_id).join(User, User.id == ServiceRecord.recorded_by)
        .where(path_in_scope(principal, Unit.path), ServiceRecord.status == "pending",
               ServiceRecord.source.startswith("import:"))
        .group_by(ServiceRecord.source).order_by(ServiceRecord.source.desc()).limit(100)).all()
    return [{"batch": source, "records": count, "hours": hours_text(int(minutes or 0)), "uploaded_by": username,
             "is_mine": recorded_by == principal.user_id}
            for source, count, minutes, username, recorded_by in rows]
