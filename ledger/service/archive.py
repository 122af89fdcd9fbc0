"""台账归档: a station's activities and service records of a half-year or a year, for the file.

The station rules ask for the records to be bound by year (按年度装订成册), and the center
inspects each station every half-year (每半年督查一次).  `station_archive` gathers what was
served in a unit's subtree in the period: every activity held, every service record that was
posted (and those posted then reversed, marked so), totals per month; records still waiting
for approval are counted, not listed.  `ledger.service.archive_files` renders it as a
workbook and as a printable PDF.  Nothing is written.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ledger.errors import ValidationFailed
from ledger.people.access import Principal, require_role, require_unit
from ledger.people.org import UNIT_KIND_NAMES
from ledger.people.tables import Team, Unit, User, Volunteer
from ledger.service.tables import Activity, ServiceRecord

ARCHIVED_STATUSES = ("posted", "reversed")
STATUS_NAMES = {"posted": "已入账", "reversed": "已冲正", "pending": "待审核", "rejected": "已退回"}
_PERIOD = re.compile(r"(\d{4})(?:-H([12]))?")


def archive_period(period: str) -> tuple[str, dt.date, dt.date]:
    """The Chinese label and the first and last day of "2026" (a year) or "2026-H1"/"2026-H2"."""
    match = _PERIOD.fullmatch((period or "").strip().upper())
    if not match or not 2000 <= int(match[1]) <= 2100:
        raise ValidationFailed(f"归档期间应写作 2026（全年）、2026-H1（上半年）或 2026-H2（下半年），"
                               f"不是 {period!r}", field="period")
    year = int(match[1])
    if match[2] == "1":
        return f"{year}年上半年", dt.date(year, 1, 1), dt.date(year, 6, 30)
    if match[2] == "2":
        return f"{year}年下半年", dt.date(year, 7, 1), dt.date(year, 12, 31)
    return f"{year}年度", dt.date(year, 1, 1), dt.date(year, 12, 31)


def archive_periods(today: dt.date, years: int = 3) -> list[dict]:
    """The periods a page offers, newest first: each half-year and year that has begun."""
    found = []
    for year in range(today.year, today.year - years, -1):
        for code in (f"{year}-H2", f"{year}-H1", str(year)):
            label, start, end = archive_period(code)
            if start <= today:
                found.append({"code": code, "label": label, "is_complete": end < today})
    return found


def station_archive(session: Session, principal: Principal, unit_id: int, period: str,
                    today: dt.date) -> dict:
    """Everything the archive of a unit's subtree for `period` shows, as plain values."""
    require_role(principal, "admin", "unit_admin", "auditor")
    unit = require_unit(session, principal, unit_id)
    label, start, end = archive_period(period)
    if start > today:
        raise ValidationFailed(f"{label}尚未开始，无可归档的记录", field="period")
    records = _records(session, unit.path, start, end)
    activities = _activities(session, unit.path, start, end, records)
    return {
        "unit": {"id": unit.id, "code": unit.code, "name": unit.name, "kind_name": UNIT_KIND_NAMES[unit.kind],
                 "responsible_person": unit.responsible_person or "", "contact": unit.contact or ""},
        "period": {"code": period.strip().upper(), "label": label, "from": start, "to": end,
                   "is_complete": end < today},
        "made_on": today,
        "activities": activities,
        "records": records,
        "months": _months(start, end, activities, records),
        "summary": _summary(activities, records, _pending(session, unit.path, start, end)),
    }


def _service_window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Service times (naive local) from the first day's midnight up to the day after the last."""
    return dt.datetime.combine(start, dt.time()), dt.datetime.combine(end + dt.timedelta(days=1), dt.time())


def _records(session: Session, path: str, start: dt.date, end: dt.date) -> list[dict]:
    """Posted and reversed service records served in the subtree in the period, in time order."""
    since, before = _service_window(start, end)
    recorder, approver = aliased(User), aliased(User)
    rows = session.execute(
        select(ServiceRecord, Volunteer.number, Volunteer.name, Activity.title, Activity.category,
               Unit.name, recorder.display_name, recorder.username, approver.display_name, approver.username)
        .join(Unit, Unit.id == ServiceRecord.unit_id)
        .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .outerjoin(recorder, recorder.id == ServiceRecord.recorded_by)
        .outerjoin(approver, approver.id == ServiceRecord.approved_by)
        .where(Unit.path.startswith(path), ServiceRecord.started_at >= since, ServiceRecord.started_at < before,
               ServiceRecord.status.in_(ARCHIVED_STATUSES))
        .order_by(ServiceRecord.started_at, ServiceRecord.id)).all()
    return [{"id": record.id, "activity_id": record.activity_id, "date": record.started_at.date(),
             "started_at": record.started_at, "ended_at": record.ended_at, "minutes": record.minutes,
             "volunteer_number": number, "volunteer_name": name, "activity": title,
             "category": record.service_kind or category, "unit": unit_name,
             "confirmed_by": record.confirmed_by or "",
             "recorded_by": recorded_display or recorded_user or "",
             "approved_by": approved_display or approved_user or "",
             "status": record.status, "status_name": STATUS_NAMES[record.status],
             "is_counted": record.status == "posted"}
            for (record, number, name, title, category, unit_name, recorded_display, recorded_user,
                 approved_display, approved_user) in rows]


def _activities(session: Session, path: str, start: dt.date, end: dt.date, records: list[dict]) -> list[dict]:
    """Activities held in the subtree in the period, with their counted participants and minutes."""
    rows = session.execute(
        select(Activity, Unit.name, Team.name).join(Unit, Unit.id == Activity.unit_id)
        .outerjoin(Team, Team.id == Activity.team_id)
        .where(Unit.path.startswith(path), Activity.held_on >= start, Activity.held_on <= end)
        .order_by(Activity.held_on, Activity.id)).all()
    people: dict[int, set[str]] = defaultdict(set)
    minutes: Counter[int] = Counter()
    for record in records:
        if record["is_counted"]:
            people[record["activity_id"]].add(record["volunteer_number"])
            minutes[record["activity_id"]] += record["minutes"]
    return [{"id": activity.id, "date": activity.held_on, "title": activity.title,
             "category": activity.category, "place": activity.place or "", "organiser": activity.organiser or "",
             "unit": unit_name, "team": team_name or "", "is_concentrated": bool(activity.is_concentrated),
             "tags": "、".join(activity.tags or []), "volunteers": len(people[activity.id]),
             "minutes": minutes[activity.id]}
            for activity, unit_name, team_name in rows]


def _pending(session: Session, path: str, start: dt.date, end: dt.date) -> int:
    """Records of the period still waiting for a second person's approval."""
    since, before = _service_window(start, end)
    return int(session.execute(
        select(func.count()).select_from(ServiceRecord).join(Unit, Unit.id == ServiceRecord.unit_id)
        .where(Unit.path.startswith(path), ServiceRecord.started_at >= since,
               ServiceRecord.started_at < before, ServiceRecord.status == "pending")).scalar_one())


def _months(start: dt.date, end: dt.date, activities: list[dict], records: list[dict]) -> list[dict]:
    """Per month of the period: activities held, services and volunteers counted, minutes."""
    months = []
    for month in range(start.month, end.month + 1):
        held = [a for a in activities if a["date"].month == month]
        counted = [r for r in records if r["is_counted"] and r["date"].month == month]
        months.append({"month": f"{start.year}-{month:02d}", "label": f"{start.year}年{month}月",
                       "activities": len(held), "services": len(counted),
                       "volunteers": len({r["volunteer_number"] for r in counted}),
                       "minutes": sum(r["minutes"] for r in counted)})
    return months


def _summary(activities: list[dict], records: list[dict], pending: int) -> dict:
    """The archive's totals: counted services only (a reversed record is listed, not counted)."""
    counted = [r for r in records if r["is_counted"]]
    return {"activities": len(activities),
            "concentrated": sum(1 for a in activities if a["is_concentrated"]),
            "services": len(counted), "volunteers": len({r["volunteer_number"] for r in counted}),
            "minutes": sum(r["minutes"] for r in counted),
            "reversed": sum(1 for r in records if r["status"] == "reversed"), "pending": pending}
