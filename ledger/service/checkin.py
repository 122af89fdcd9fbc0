"""Check-in and check-out (签到/签退) with a rotating code, and the service record they propose.

The organiser shows the activity's code as a QR on a phone or paper.  The code is an HMAC
of the activity and the current time window under the server's secret, so it needs no
table and cannot be forged; it rotates every `ROTATE_SECONDS`, and a code is accepted in
its own window and the next one only (a photo sent to a friend expires within minutes).
The organiser may also sign a person in or out by hand.

A completed pair (in, out) PROPOSES a service record: `records.record_service` in the name
of the activity's organiser (status pending), so a second person approves it like any
other.  What does not add up is flagged for a person, never posted: a sign-out never made
(the scheduled job), a span the ledger refuses (longer than a day, overlapping another record).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import Conflict, Forbidden, LedgerError, NotFound, ValidationFailed
from ledger.people.access import Principal, require_role
from ledger.people.auth import principal_for_user
from ledger.people.challenge import same_text
from ledger.people.tables import User, Volunteer
from ledger.people.volunteers import lock_volunteer
from ledger.service.activities import require_activity
from ledger.service.order_rules import local_iso
from ledger.service.records import RecordService, record_public, record_service
from ledger.service.signup import live_signup, same_county
from ledger.service.tables import Activity, AttendanceFlag, AttendanceScan, Recruitment, ServiceRecord

ROTATE_SECONDS = 60
MISSING_AFTER = dt.timedelta(hours=12)
EXPIRED = "二维码已过期，请扫描现场最新的二维码 (the code has expired; scan the current one)"
FOREIGN = "二维码无效：不是本活动的签到码 (this is not a check-in code of this activity)"


def window_of(now: dt.datetime) -> int:
    """The code window a moment falls in."""
    return int(now.timestamp()) // ROTATE_SECONDS


def code_for(secret: bytes, activity_id: int, window: int) -> str:
    """The check-in code of an activity in a window."""
    message = f"checkin:{activity_id}:{window}".encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:20]


def current_code(secret: bytes, activity_id: int, now: dt.datetime) -> dict:
    """What the organiser's QR shows now: the path to scan and when it rotates."""
    window = window_of(now)
    rotates_at = dt.datetime.fromtimestamp((window + 1) * ROTATE_SECONDS, tz=dt.timezone.utc)
    code = code_for(secret, activity_id, window)
    return {"activity_id": activity_id, "path": f"/checkin?a={activity_id}&w={window}&c={code}",
            "rotates_at": local_iso(rotates_at), "rotate_seconds": ROTATE_SECONDS}


def parse_code(text: str) -> tuple[int, int, str]:
    """(activity, window, code) from a scanned URL or its query; refused when it is not ours."""
    query = parse_qs(urlsplit((text or "").strip()).query or (text or "").strip().lstrip("?"))
    try:
        return int(query["a"][0]), int(query["w"][0]), query["c"][0]
    except (KeyError, ValueError, IndexError):
        raise ValidationFailed("无法识别的二维码，请扫描活动现场的签到二维码 (not a check-in code)",
                               field="code") from None


def check_code(secret: bytes, activity_id: int, window: int, code: str, now: dt.datetime) -> None:
    """Refuse a forged or foreign code, then a code whose window has passed (or is yet to come)."""
    if not same_text(code_for(secret, activity_id, window), code):
        raise ValidationFailed(FOREIGN, field="code")
    if not window_of(now) - 1 <= window <= window_of(now):
        raise ValidationFailed(EXPIRED, field="code")


def activity_title(session: Session, activity_id: int) -> str | None:
    """The title of an activity a code names (shown on the volunteer's sign-in page), if any."""
    activity = session.get(Activity, activity_id)
    return activity.title if activity is not None else None


def activity_code(session: Session, principal: Principal, secret: bytes, activity_id: int,
                  now: dt.datetime) -> dict:
    """The organiser's current code for an activity in scope."""
    require_role(principal, "admin", "unit_admin")
    require_activity(session, principal, activity_id)
    return current_code(secret, activity_id, now)


def scan(session: Session, principal: Principal, secret: bytes, text: str, direction: str,
         now: dt.datetime, local_now: dt.datetime) -> dict:
    """A volunteer scans the code to sign in or out (`direction`: in | out)."""
    require_role(principal, "volunteer")
    activity_id, window, code = parse_code(text)
    check_code(secret, activity_id, window, code, now)
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise ValidationFailed(FOREIGN, field="code")
    return attend(session, activity, principal.volunteer_id, direction, at=local_now, method="scan",
                  actor=principal.username, now=now, local_now=local_now)


def sign_by_hand(session: Session, principal: Principal, activity_id: int, volunteer_id: int, direction: str,
                 at: dt.datetime | None, now: dt.datetime, local_now: dt.datetime) -> dict:
    """The organiser signs a person in or out by hand (at a given local time, default now)."""
    require_role(principal, "admin", "unit_admin")
    activity = require_activity(session, principal, activity_id)
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None or not same_county(session, volunteer, activity):
        raise NotFound(f"志愿者 {volunteer_id} 不存在 (volunteer not found)", field="volunteer_id")
    at = at or local_now
    if at > local_now + dt.timedelta(minutes=5):
        raise ValidationFailed("签到签退时间不能晚于现在 (the time cannot be in the future)", field="at")
    return attend(session, activity, volunteer_id, direction, at=at, method="manual",
                  actor=principal.username, now=now, local_now=local_now)


def _scans(session: Session, activity_id: int, volunteer_id: int) -> dict[str, AttendanceScan]:
    return {s.direction: s for s in session.execute(select(AttendanceScan).where(
        AttendanceScan.activity_id == activity_id, AttendanceScan.volunteer_id == volunteer_id)).scalars()}


def attend(session: Session, activity: Activity, volunteer_id: int, direction: str, *, at: dt.datetime,
           method: str, actor: str, now: dt.datetime, local_now: dt.datetime) -> dict:
    """One sign-in or sign-out, after every check; a sign-out proposes the service record."""
    if direction not in ("in", "out"):
        raise ValidationFailed("direction 只能是 in（签到）或 out（签退）", field="direction")
    try:
        volunteer = lock_volunteer(session, volunteer_id)  # one scan at a time per volunteer
    except LedgerError:
        raise NotFound(f"志愿者 {volunteer_id} 不存在 (volunteer not found)", field="volunteer_id") from None
    scans = _scans(session, activity.id, volunteer.id)
    recruitment = session.get(Recruitment, activity.id)
    if direction == "in":
        _check_sign_in(session, activity, recruitment, volunteer, scans)
    else:
        _check_sign_out(scans, at)
    scan_row = AttendanceScan(activity_id=activity.id, volunteer_id=volunteer.id, direction=direction, at=at,
                              method=method, actor=actor, recorded_at=now)
    session.add(scan_row)
    session.flush()
    answer = {"activity_id": activity.id, "volunteer_id": volunteer.id, "direction": direction,
              "at": at.isoformat(), "method": method, "record": None, "flag": None}
    if direction == "out":
        answer.update(_propose(session, activity, recruitment, volunteer.id, scans["in"].at, at, now, local_now))
    return answer


def _check_sign_in(session: Session, activity: Activity, recruitment: Recruitment | None, volunteer: Volunteer,
                   scans: dict) -> None:
    if "in" in scans:
        done = "已签到并签退" if "out" in scans else "已签到"
        raise Conflict(f"您{done}，请勿重复签到 (already signed in)", field="direction")
    if volunteer.status != "active":
        raise Conflict("该志愿者已离开本平台 (the volunteer has left)", field="volunteer_id")
    if recruitment is not None and recruitment.requires_signup and \
            live_signup(session, activity.id, volunteer.id) is None:
        raise Forbidden("该活动需先报名才能签到 (sign up first: this activity requires it)", field="activity_id")
    if _organiser(session, activity, recruitment) is None:
        raise Conflict("该活动没有组织者，不能签到，请联系站点 (the activity has no organiser)", field="activity_id")


def _check_sign_out(scans: dict, at: dt.datetime) -> None:
    if "in" not in scans:
        raise Conflict("尚未签到，不能签退 (sign in before signing out)", field="direction")
    if "out" in scans:
        raise Conflict("您已签退，请勿重复签退 (already signed out)", field="direction")


def _organiser(session: Session, activity: Activity, recruitment: Recruitment | None) -> User | None:
    user_id = recruitment.published_by if recruitment is not None else activity.created_by
    return session.get(User, user_id) if user_id is not None else None


def _propose(session: Session, activity: Activity, recruitment: Recruitment | None, volunteer_id: int,
             started_at: dt.datetime, ended_at: dt.datetime, now: dt.datetime, local_now: dt.datetime) -> dict:
    """Record the pair as a pending service record, or flag it when the ledger refuses it."""
    organiser = principal_for_user(session, _organiser(session, activity, recruitment))
    command = RecordService(volunteer_id=volunteer_id, activity_id=activity.id, started_at=started_at,
                            ended_at=ended_at, confirmed_by="签到签退", source=f"checkin:{activity.id}")
    savepoint = session.begin_nested()
    try:
        record = record_service(session, organiser, command, local_now, volunteer_checked=True)
    except LedgerError as refused:
        savepoint.rollback()
        kind = "overlap" if isinstance(refused, Conflict) else "impossible_span"
        flag = _flag(session, activity.id, volunteer_id, kind, refused.message, now)
        return {"flag": {"id": flag.id, "kind": kind, "detail": flag.detail}}
    savepoint.commit()
    _resolve_flags(session, activity.id, volunteer_id, "missing_sign_out", now, "签退已补录")
    return {"record": record_public(record)}


def _flag(session: Session, activity_id: int, volunteer_id: int, kind: str, detail: str,
          now: dt.datetime) -> AttendanceFlag:
    flag = session.execute(select(AttendanceFlag).where(
        AttendanceFlag.activity_id == activity_id, AttendanceFlag.volunteer_id == volunteer_id,
        AttendanceFlag.kind == kind)).scalar_one_or_none()
    if flag is None:
        flag = AttendanceFlag(activity_id=activity_id, volunteer_id=volunteer_id, kind=kind,
                              detail=detail[:400], flagged_at=now)
        session.add(flag)
        session.flush()
    return flag


def _resolve_flags(session: Session, activity_id: int, volunteer_id: int, kind: str, now: dt.datetime,
                   by: str) -> None:
    for flag in session.execute(select(AttendanceFlag).where(
            AttendanceFlag.activity_id == activity_id, AttendanceFlag.volunteer_id == volunteer_id,
            AttendanceFlag.kind == kind, AttendanceFlag.resolved_at.is_(None))).scalars():
        flag.resolved_at, flag.resolved_by = now, by


def resolve_flag(session: Session, principal: Principal, activity_id: int, flag_id: int, note: str,
                 now: dt.datetime) -> dict:
    """The organiser closes a flag after checking it (the service, if any, recorded by hand)."""
    require_role(principal, "admin", "unit_admin")
    require_activity(session, principal, activity_id)
    if not note or not note.strip():
        raise ValidationFailed("请写明核实结果 (a resolution needs a note)", field="note")
    flag = session.get(AttendanceFlag, flag_id)
    if flag is None or flag.activity_id != activity_id:
        raise NotFound(f"待核实事项 {flag_id} 不存在 (flag not found)", field="flag_id")
    if flag.resolved_at is not None:
        raise Conflict("该事项已处理 (the flag is already resolved)", field="flag_id")
    flag.resolved_at, flag.resolved_by = now, f"{principal.username}：{note.strip()}"[:100]
    return {"id": flag.id, "kind": flag.kind, "is_resolved": True, "resolved_by": flag.resolved_by}


def flag_missing_sign_outs(session: Session, now: dt.datetime, local_now: dt.datetime) -> int:
    """Flag every sign-in older than `MISSING_AFTER` with no sign-out (idempotent); returns how many new."""
    signed_out = {(a, v) for a, v in session.execute(select(AttendanceScan.activity_id, AttendanceScan.volunteer_id)
                                                     .where(AttendanceScan.direction == "out")).all()}
    flagged = {(a, v) for a, v in session.execute(select(AttendanceFlag.activity_id, AttendanceFlag.volunteer_id)
                                                  .where(AttendanceFlag.kind == "missing_sign_out")).all()}
    new = 0
    for scan_row in session.execute(select(AttendanceScan).where(
            AttendanceScan.direction == "in", AttendanceScan.at <= local_now - MISSING_AFTER)).scalars():
        key = (scan_row.activity_id, scan_row.volunteer_id)
        if key not in signed_out and key not in flagged:
            _flag(session, *key, "missing_sign_out",
                  f"{scan_row.at:%Y-%m-%d %H:%M} 签到后未签退，请组织者核实后补录签退时间", now)
            new += 1
    return new


def attendance(session: Session, principal: Principal, activity_id: int) -> dict:
    """The organiser's view of an activity's scans, flags and the records they proposed."""
    require_role(principal, "admin", "unit_admin", "auditor")
    require_activity(session, principal, activity_id)
    names = dict(session.execute(select(Volunteer.id, Volunteer.name).join(
        AttendanceScan, AttendanceScan.volunteer_id == Volunteer.id).where(
        AttendanceScan.activity_id == activity_id)).all())
    scans = [{"volunteer_id": s.volunteer_id, "name": names.get(s.volunteer_id, ""), "direction": s.direction,
              "at": s.at.isoformat(), "method": s.method, "actor": s.actor}
             for s in session.execute(select(AttendanceScan).where(AttendanceScan.activity_id == activity_id)
                                      .order_by(AttendanceScan.id)).scalars()]
    flags = [{"id": f.id, "volunteer_id": f.volunteer_id, "kind": f.kind, "detail": f.detail,
              "flagged_at": local_iso(f.flagged_at), "is_resolved": f.resolved_at is not None}
             for f in session.execute(select(AttendanceFlag).where(AttendanceFlag.activity_id == activity_id)
                                      .order_by(AttendanceFlag.id)).scalars()]
    records = [record_public(r) for r in session.execute(select(ServiceRecord).where(
        ServiceRecord.activity_id == activity_id, ServiceRecord.source == f"checkin:{activity_id}")
        .order_by(ServiceRecord.id)).scalars()]
    return {"activity_id": activity_id, "scans": scans, "flags": flags, "records": records}
