"""Recruitment and sign-up (招募/报名): an activity published with a quota, a deadline and the
teams it is open to; volunteers sign up and cancel from their phone; the organiser sees the list.

The quota holds under concurrency: a sign-up locks the recruitment row (SELECT … FOR UPDATE
on PostgreSQL; SQLite serialises every writer at BEGIN IMMEDIATE) before it counts the
sign-ups, so two volunteers taking the last place at once get one place and one refusal.
A volunteer holds at most one live sign-up per activity (a partial unique index backs it).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ledger.people.access import Principal, in_scope, require_role, unit_path
from ledger.people.tables import Membership, Team, Volunteer
from ledger.service.activities import activity_public, require_activity
from ledger.service.order_rules import as_aware, local_iso
from ledger.service.tables import Activity, AttendanceScan, Recruitment, Signup
from ledger.store.uow import CHINA


@dataclass(frozen=True)
class PublishRecruitment:
    """Command: open an activity for sign-up."""

    quota: int
    deadline: dt.datetime  # timezone-aware (naive is read as China time)
    team_ids: tuple[int, ...] = ()
    requires_signup: bool = True  # signing in needs a sign-up


def recruitment_public(recruitment: Recruitment, signed_up: int) -> dict:
    """A recruitment with its places taken."""
    return {"activity_id": recruitment.activity_id, "quota": recruitment.quota,
            "deadline": local_iso(recruitment.deadline), "team_ids": list(recruitment.team_ids or []),
            "requires_signup": recruitment.requires_signup, "signed_up": signed_up,
            "places_left": max(recruitment.quota - signed_up, 0)}


def _given(value: dt.datetime) -> dt.datetime:
    """A time a person gave (naive: China time) in UTC, the form times are stored in."""
    return (value if value.tzinfo else value.replace(tzinfo=CHINA)).astimezone(dt.timezone.utc)


def publish_recruitment(session: Session, principal: Principal, activity_id: int, command: PublishRecruitment,
                        now: dt.datetime) -> dict:
    """招募: publish an activity in scope for sign-up."""
    require_role(principal, "admin", "unit_admin")
    activity = require_activity(session, principal, activity_id)
    if isinstance(command.quota, bool) or not isinstance(command.quota, int) or command.quota <= 0:
        raise ValidationFailed("招募人数须为正整数 (quota must be a positive whole number)", field="quota")
    if _given(command.deadline) <= now:
        raise ValidationFailed("报名截止时间必须晚于现在 (the deadline must be in the future)", field="deadline")
    for team_id in command.team_ids:
        team = session.get(Team, team_id)
        path = unit_path(session, team.unit_id) if team is not None else None
        # a team of the organiser's subtree, or of a unit above them (a county team)
        if path is None or not (in_scope(principal, path) or (principal.unit_path or "").startswith(path)):
            raise NotFound(f"队伍 {team_id} 不存在或不在您的管辖范围 (team {team_id} not found)", field="team_ids")
    if session.get(Recruitment, activity.id) is not None:
        raise Conflict("该活动已发布招募 (the activity is already open for sign-up)", field="activity_id")
    recruitment = Recruitment(activity_id=activity.id, quota=command.quota, deadline=_given(command.deadline),
                              team_ids=sorted(set(command.team_ids)), requires_signup=command.requires_signup,
                              published_by=principal.user_id, published_at=now)
    session.add(recruitment)
    session.flush()
    return recruitment_public(recruitment, 0)


def _count(session: Session, activity_id: int) -> int:
    return session.execute(select(func.count()).where(Signup.activity_id == activity_id,
                                                      Signup.cancelled_at.is_(None))).scalar_one()


def live_signup(session: Session, activity_id: int, volunteer_id: int) -> Signup | None:
    """The volunteer's sign-up for the activity that is not cancelled, if any."""
    return session.execute(select(Signup).where(Signup.activity_id == activity_id, Signup.volunteer_id == volunteer_id,
                                                Signup.cancelled_at.is_(None))).scalar_one_or_none()


def volunteer_team_ids(session: Session, volunteer_id: int, today: dt.date) -> set[int]:
    """The teams the volunteer belongs to today."""
    return set(session.execute(select(Membership.team_id).where(
        Membership.volunteer_id == volunteer_id, Membership.team_id.is_not(None), Membership.valid_from <= today,
        (Membership.valid_to.is_(None)) | (Membership.valid_to > today))).scalars())


def same_county(session: Session, volunteer: Volunteer, activity: Activity) -> bool:
    """One deployment is one county: a volunteer may serve in the activities under the same center."""
    home, held = unit_path(session, volunteer.home_unit_id) or "", unit_path(session, activity.unit_id) or ""
    return home.split("/")[1:2] == held.split("/")[1:2]


def _open_to(session: Session, recruitment: Recruitment, volunteer: Volunteer, activity: Activity,
             today: dt.date) -> bool:
    if not same_county(session, volunteer, activity):
        return False
    return not recruitment.team_ids or bool(volunteer_team_ids(session, volunteer.id, today) & set(recruitment.team_ids))


def _require_recruitment(session: Session, activity_id: int, lock: bool = False) -> Recruitment:
    query = select(Recruitment).where(Recruitment.activity_id == activity_id)
    recruitment = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if recruitment is None:
        raise NotFound("该活动没有开放报名 (the activity is not open for sign-up)", field="activity_id")
    return recruitment


def sign_up(session: Session, principal: Principal, activity_id: int, now: dt.datetime, today: dt.date) -> dict:
    """报名: the signed-in volunteer takes a place, if one is left before the deadline."""
    require_role(principal, "volunteer")
    recruitment = _require_recruitment(session, activity_id, lock=True)  # serialises this activity's sign-ups
    activity = session.get(Activity, activity_id)
    volunteer = session.get(Volunteer, principal.volunteer_id)
    if volunteer is None or volunteer.status != "active" or not _open_to(session, recruitment, volunteer,
                                                                         activity, today):
        raise Forbidden("该活动只对指定队伍开放报名，您不在其中 (the activity is not open to you)", field="activity_id")
    if as_aware(recruitment.deadline) <= now:
        raise Conflict("报名已截止 (sign-up has closed)", field="activity_id")
    if live_signup(session, activity_id, volunteer.id) is not None:
        raise Conflict("您已报名该活动，无需重复报名 (you have already signed up)", field="activity_id")
    taken = _count(session, activity_id)
    if taken >= recruitment.quota:
        raise Conflict(f"报名人数已满（{recruitment.quota} 人）(the activity is full)", field="activity_id")
    signup = Signup(activity_id=activity_id, volunteer_id=volunteer.id, signed_up_at=now)
    session.add(signup)
    session.flush()
    return {"signup_id": signup.id, **recruitment_public(recruitment, taken + 1)}


def cancel_signup(session: Session, principal: Principal, activity_id: int, now: dt.datetime) -> dict:
    """取消报名, before signing in; the place goes back to the quota."""
    require_role(principal, "volunteer")
    recruitment = _require_recruitment(session, activity_id, lock=True)
    signup = live_signup(session, activity_id, principal.volunteer_id)
    if signup is None:
        raise Conflict("您没有报名该活动 (you have not signed up)", field="activity_id")
    if session.execute(select(AttendanceScan.id).where(AttendanceScan.activity_id == activity_id,
                                                       AttendanceScan.volunteer_id == principal.volunteer_id)).first():
        raise Conflict("您已签到，不能取消报名 (you have already signed in)", field="activity_id")
    signup.cancelled_at = now
    session.flush()
    return recruitment_public(recruitment, _count(session, activity_id))


def list_signups(session: Session, principal: Principal, activity_id: int) -> dict:
    """The organiser's list: who signed up (names, numbers, masked phones) and their scans."""
    require_role(principal, "admin", "unit_admin", "auditor")
    activity = require_activity(session, principal, activity_id)
    recruitment = _require_recruitment(session, activity_id)
    rows = session.execute(select(Signup, Volunteer).join(Volunteer, Volunteer.id == Signup.volunteer_id)
                           .where(Signup.activity_id == activity_id).order_by(Signup.id)).all()
    scans = {(s.volunteer_id, s.direction): s.at for s in session.execute(
        select(AttendanceScan).where(AttendanceScan.activity_id == activity_id)).scalars()}
    items = [{"volunteer_id": v.id, "number": v.number, "name": v.name, "phone_masked": v.phone_masked,
              "signed_up_at": local_iso(signup.signed_up_at), "is_cancelled": signup.cancelled_at is not None,
              "signed_in_at": _iso(scans.get((v.id, "in"))), "signed_out_at": _iso(scans.get((v.id, "out")))}
             for signup, v in rows]
    live = sum(1 for item in items if not item["is_cancelled"])
    return {"activity": activity_public(activity), "recruitment": recruitment_public(recruitment, live),
            "signups": items}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def open_recruitments(session: Session, principal: Principal, now: dt.datetime, today: dt.date) -> list[dict]:
    """What the signed-in volunteer may sign up for (open, before the deadline), and their own sign-ups."""
    require_role(principal, "volunteer")
    volunteer = session.get(Volunteer, principal.volunteer_id)
    rows = session.execute(select(Recruitment, Activity).join(Activity, Activity.id == Recruitment.activity_id)
                           .where(Activity.held_on >= today - dt.timedelta(days=1))
                           .order_by(Activity.held_on, Activity.id).limit(200)).all()
    answer = []
    for recruitment, activity in rows:
        mine = live_signup(session, activity.id, volunteer.id)
        if mine is None and (as_aware(recruitment.deadline) <= now
                             or not _open_to(session, recruitment, volunteer, activity, today)):
            continue
        scanned = set(session.execute(select(AttendanceScan.direction).where(
            AttendanceScan.activity_id == activity.id, AttendanceScan.volunteer_id == volunteer.id)).scalars())
        answer.append({"activity": activity_public(activity),
                       "recruitment": recruitment_public(recruitment, _count(session, activity.id)),
                       "is_signed_up": mine is not None, "is_signed_in": "in" in scanned,
                       "is_signed_out": "out" in scanned})
    return answer
