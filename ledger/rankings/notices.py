"""Public notice (公示) of a published selection, objections (异议), and the final word.

A published, not superseded run is put on notice for the days its definition says
(`notice_days`, 7 unless written), from the day it is put up to the last day inclusive.  The
public list shows what earned each place and nothing more: the 序号, the rank, the name, the
unit and the figures of the definition's metrics (no volunteer number, no ID or phone).
While the notice is open anyone may object, naming a line of the list or not, with a phone
number to be reached on: it is kept as a keyed hash and a masked form, like every phone.
The county resolves each objection (upheld 成立 / dismissed 不成立, with a reply).  When the
notice has ended and every objection is resolved with none upheld, the list is confirmed
final; at any time it can instead be superseded by a later run of the same selection, with
the reason (an upheld objection leaves only that way).  All four tables are append-only.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.amounts import hours_text
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.names import clean_name
from ledger.people.access import Principal, require_role
from ledger.people.idcard import keyed_hash, mask_phone, validate_phone
from ledger.people.tables import Unit
from ledger.rankings import runs as rankings
from ledger.rankings.definitions import METRIC_NAMES, notice_days
from ledger.rankings.tables import (
    NoticeOutcome,
    ObjectionResolution,
    RankingDefinition,
    RankingEntry,
    RankingNotice,
    RankingObjection,
    RankingRun,
)
from ledger.store.tables import AuditEntry

STATUS_TEXT = {"open": "公示中", "ended": "公示期满，待确认", "confirmed": "已确认为最终结果",
               "superseded": "已被替代"}
OUTCOMES = {"upheld": "成立", "dismissed": "不成立"}
REASON_LENGTH = (5, 1000)


def put_on_notice(session: Session, principal: Principal, run_id: int, today: dt.date) -> dict:
    """Put a published run on public notice from today for the days its definition says."""
    require_role(principal, "admin", "unit_admin")
    run = rankings.require_run(session, principal, run_id)
    status = rankings.run_status(session, run.id)
    if not status["is_published"] or status["superseded_by"] is not None:
        raise Conflict("只有已发布且未被替代的评选结果才能公示", field="run_id")
    if session.execute(select(RankingNotice.id).where(RankingNotice.run_id == run.id)).first():
        raise Conflict(f"评选结果 {run.id} 已经公示过", field="run_id")
    days = notice_days(session.get(RankingDefinition, run.definition_id).document)
    notice = RankingNotice(run_id=run.id, starts_on=today, ends_on=today + dt.timedelta(days=days - 1),
                           created_by=principal.username)
    session.add(notice)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="ranking.notice", target=f"ranking_notice:{notice.id}",
                           detail={"run_id": run.id, "days": days}))
    return notice_public(session, notice, today)


def _outcome(session: Session, notice_id: int) -> NoticeOutcome | None:
    return session.execute(select(NoticeOutcome).where(NoticeOutcome.notice_id == notice_id)).scalar_one_or_none()


def notice_status(session: Session, notice: RankingNotice, today: dt.date) -> tuple[str, str | None]:
    """(status, reason): open, ended, confirmed or superseded (with the reason given)."""
    outcome = _outcome(session, notice.id)
    if outcome is not None:
        return outcome.outcome, outcome.reason or None
    superseded = rankings.run_status(session, notice.run_id)
    if superseded["superseded_by"] is not None:
        return "superseded", superseded["supersede_reason"]
    return ("open" if today <= notice.ends_on else "ended"), None


def notice_public(session: Session, notice: RankingNotice, today: dt.date) -> dict:
    """A notice as shown to staff and to the public (no objection, no personal data)."""
    status, reason = notice_status(session, notice, today)
    run = session.get(RankingRun, notice.run_id)
    definition = session.get(RankingDefinition, run.definition_id)
    return {"id": notice.id, "run_id": run.id, "title": definition.name, "period": run.period,
            "unit_name": session.get(Unit, definition.unit_id).name,
            **rankings.cutoff_public(run.cutoff_on, run.period_end),
            "starts_on": notice.starts_on.isoformat(), "ends_on": notice.ends_on.isoformat(),
            "days": (notice.ends_on - notice.starts_on).days + 1, "status": status,
            "status_text": STATUS_TEXT[status], "status_reason": reason,
            "metrics": [METRIC_NAMES[m] for m in definition.document["metrics"]]}


def require_notice(session: Session, notice_id: int) -> RankingNotice:
    """A notice by id (notices are public: no scope)."""
    notice = session.get(RankingNotice, notice_id) if isinstance(notice_id, int) else None
    if notice is None:
        raise NotFound(f"没有编号为 {notice_id} 的公示", field="notice_id")
    return notice


def _shortlist(session: Session, run_id: int) -> list[RankingEntry]:
    return list(session.execute(
        select(RankingEntry).where(RankingEntry.run_id == run_id, RankingEntry.is_shortlisted.is_(True))
        .order_by(RankingEntry.group_unit_id, RankingEntry.rank, RankingEntry.subject_id)).scalars())


def _figures(entry: RankingEntry, metrics: list[str]) -> list[str]:
    texts = {"hours": f"{hours_text(entry.minutes)} 小时", "points": f"{entry.points} 分",
             "activities": f"{entry.activities} 次",
             "rating": rankings.rating_text(entry.rating_sum, entry.rating_count) or "无评单"}
    return [texts[name] for name in metrics]


def public_notice(session: Session, notice_id: int, today: dt.date) -> dict:
    """The public page's content: the notice and each line (序号, rank, name, unit, figures)."""
    notice = require_notice(session, notice_id)
    run = session.get(RankingRun, notice.run_id)
    metrics = session.get(RankingDefinition, run.definition_id).document["metrics"]
    entries = _shortlist(session, run.id)
    units = dict(session.execute(select(Unit.id, Unit.name).where(
        Unit.id.in_({e.group_unit_id for e in entries}))).all()) if entries else {}
    lines = [{"line": index, "rank": entry.rank, "name": entry.subject_name,
              "unit": units.get(entry.group_unit_id, ""), "figures": _figures(entry, metrics)}
             for index, entry in enumerate(entries, start=1)]
    return {**notice_public(session, notice, today), "lines": lines}


def _objection_text(reason, name) -> tuple[str, str]:
    if not isinstance(reason, str) or not REASON_LENGTH[0] <= len(reason.strip()) <= REASON_LENGTH[1]:
        raise ValidationFailed(f"异议内容应为 {REASON_LENGTH[0]}-{REASON_LENGTH[1]} 个字", field="reason")
    return reason.strip(), clean_name(name or None, "name", max_length=50, label="姓名", allow_empty=True)


def object_to(session: Session, secret_key: bytes, notice_id: int, today: dt.date, *, contact: str,
              reason: str, line: int | None = None, name: str = "") -> dict:
    """Record an objection from anyone while the notice is open; returns a receipt (contact masked)."""
    notice = require_notice(session, notice_id)
    reason, name = _objection_text(reason, name)
    phone = validate_phone(contact or "", field="contact")
    if notice_status(session, notice, today)[0] != "open" or today < notice.starts_on:
        raise Conflict(f"公示期为 {notice.starts_on.isoformat()} 至 {notice.ends_on.isoformat()}，现在不受理异议",
                       field="notice_id")
    subject_id = None
    if line is not None:
        entries = _shortlist(session, notice.run_id)
        if isinstance(line, bool) or not isinstance(line, int) or not 1 <= line <= len(entries):
            raise ValidationFailed(f"序号应在 1 到 {len(entries)} 之间", field="line")
        subject_id = entries[line - 1].subject_id
    objection = RankingObjection(notice_id=notice.id, line=line, subject_id=subject_id, objector_name=name,
                                 contact_hash=keyed_hash(phone, secret_key), contact_masked=mask_phone(phone),
                                 reason=reason, received_on=today)
    session.add(objection)
    session.flush()
    session.add(AuditEntry(actor="public", action="ranking.objection", target=f"ranking_objection:{objection.id}",
                           detail={"notice_id": notice.id, "line": line}))
    return {"id": objection.id, "notice_id": notice.id, "line": line, "contact_masked": objection.contact_masked,
            "received_on": today.isoformat(), "message": "异议已收到，县级单位将核实处理"}


def _staff_notice(session: Session, principal: Principal, notice_id: int) -> RankingNotice:
    """A notice whose run lies in the principal's scope (staff reads and writes)."""
    require_role(principal, "admin", "unit_admin", "auditor")
    notice = require_notice(session, notice_id)
    rankings.require_run(session, principal, notice.run_id)
    return notice


def objection_public(session: Session, objection: RankingObjection) -> dict:
    """An objection as staff see it: the contact masked, never the number."""
    resolution = session.execute(select(ObjectionResolution).where(
        ObjectionResolution.objection_id == objection.id)).scalar_one_or_none()
    return {"id": objection.id, "notice_id": objection.notice_id, "line": objection.line,
            "subject_id": objection.subject_id, "name": objection.objector_name,
            "contact_masked": objection.contact_masked, "reason": objection.reason,
            "received_on": objection.received_on.isoformat(),
            "outcome": resolution and resolution.outcome, "outcome_text": resolution and OUTCOMES[resolution.outcome],
            "reply": resolution and resolution.reply, "resolved_by": resolution and resolution.actor}


def list_objections(session: Session, principal: Principal, notice_id: int) -> list[dict]:
    """The objections to a notice in scope, oldest first."""
    notice = _staff_notice(session, principal, notice_id)
    rows = session.execute(select(RankingObjection).where(RankingObjection.notice_id == notice.id)
                           .order_by(RankingObjection.id)).scalars()
    return [objection_public(session, objection) for objection in rows]


def resolve_objection(session: Session, principal: Principal, objection_id: int, outcome: str, reply: str) -> dict:
    """The county's answer to one objection: upheld or dismissed, with a reply; once."""
    require_role(principal, "admin", "unit_admin")
    objection = session.get(RankingObjection, objection_id)
    if objection is None:
        raise NotFound(f"没有编号为 {objection_id} 的异议", field="objection_id")
    _staff_notice(session, principal, objection.notice_id)
    if outcome not in OUTCOMES:
        raise ValidationFailed("处理结果应为 upheld（成立）或 dismissed（不成立）", field="outcome")
    if not isinstance(reply, str) or not reply.strip():
        raise ValidationFailed("处理异议须写明答复", field="reply")
    if session.execute(select(ObjectionResolution.id).where(ObjectionResolution.objection_id == objection.id)).first():
        raise Conflict(f"异议 {objection.id} 已经处理过", field="objection_id")
    session.add(ObjectionResolution(objection_id=objection.id, outcome=outcome, reply=reply.strip(),
                                    actor=principal.username))
    session.add(AuditEntry(actor=principal.username, action="ranking.objection_resolved",
                           target=f"ranking_objection:{objection.id}", detail={"outcome": outcome}))
    session.flush()
    return objection_public(session, objection)


def _open_objections(session: Session, notice_id: int) -> tuple[int, int]:
    """(unresolved, upheld) objections of a notice."""
    rows = session.execute(select(RankingObjection.id, ObjectionResolution.outcome)
                           .outerjoin(ObjectionResolution, ObjectionResolution.objection_id == RankingObjection.id)
                           .where(RankingObjection.notice_id == notice_id)).all()
    return sum(1 for _, o in rows if o is None), sum(1 for _, o in rows if o == "upheld")


def confirm_final(session: Session, principal: Principal, notice_id: int, today: dt.date) -> dict:
    """Confirm the list final once the notice has ended, every objection resolved and none upheld."""
    require_role(principal, "admin", "unit_admin")
    notice = _staff_notice(session, principal, notice_id)
    status, _ = notice_status(session, notice, today)
    if status != "ended":
        raise Conflict(f"当前状态：{STATUS_TEXT[status]}；公示期至 {notice.ends_on.isoformat()}，期满后才能确认",
                       field="notice_id")
    unresolved, upheld = _open_objections(session, notice.id)
    if unresolved:
        raise Conflict(f"还有 {unresolved} 条异议未处理", field="notice_id")
    if upheld:
        raise Conflict(f"有 {upheld} 条异议成立：须以新的评选结果替代本次结果", field="notice_id")
    session.add(NoticeOutcome(notice_id=notice.id, outcome="confirmed", actor=principal.username))
    session.add(AuditEntry(actor=principal.username, action="ranking.confirm", target=f"ranking_notice:{notice.id}"))
    session.flush()
    return notice_public(session, notice, today)


def supersede_on_notice(session: Session, principal: Principal, notice_id: int, by_run_id: int, reason: str,
                        today: dt.date) -> dict:
    """Supersede the list on notice by a later run of the same selection, with the reason."""
    require_role(principal, "admin", "unit_admin")
    notice = _staff_notice(session, principal, notice_id)
    status, _ = notice_status(session, notice, today)
    if status in ("confirmed", "superseded"):
        raise Conflict(f"公示{STATUS_TEXT[status]}", field="notice_id")
    rankings.supersede_run(session, principal, notice.run_id, by_run_id, reason)
    session.add(NoticeOutcome(notice_id=notice.id, outcome="superseded", by_run_id=by_run_id,
                              reason=reason.strip(), actor=principal.username))
    session.flush()
    return notice_public(session, notice, today)


def list_notices(session: Session, principal: Principal, today: dt.date) -> list[dict]:
    """Notices of runs in scope, newest first."""
    require_role(principal, "admin", "unit_admin", "auditor")
    found = []
    for notice in session.execute(select(RankingNotice).order_by(RankingNotice.id.desc()).limit(200)).scalars():
        try:
            rankings.require_run(session, principal, notice.run_id)
        except NotFound:
            continue
        found.append(notice_public(session, notice, today))
    return found
