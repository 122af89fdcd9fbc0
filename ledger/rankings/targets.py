"""Targets report (目标考核): how a unit subtree stands against the seed documents' targets.

The targets (from the 新时代文明实践 work plans): every team at least 12 concentrated
services (集中服务) a year; every station (站) at least one activity a month; party members
taking part at least 80 %; at least 20 hours per registered volunteer a year; residents
taking part at least 13 % of the population.  Year-based figures are counted from 1 January
to the end of the period (year to date) against the target pro-rated by months elapsed, so
the fourth-quarter report is the year's.  Hours come from the ledger at a recorded position
(the same level-1 aggregation the rankings use); activities from the activities table.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, Integer, and_, case, cast, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from ledger.book.amounts import hours_text
from ledger.book.postings import ledger_position
from ledger.errors import NotFound, ValidationFailed
from ledger.people.access import Principal, require_role, require_unit
from ledger.people.tables import Team, Unit, Volunteer
from ledger.rankings.runs import cutoff_public, period_bounds, require_cutoff, require_ended
from ledger.rankings.sql import Subtree, int_sum, report_settings, served_minutes, subtree, unit_groups
from ledger.rankings.tables import TargetReport
from ledger.service.tables import Activity
from ledger.store.tables import AuditEntry

CONCENTRATED_PER_YEAR = 12
PARTY_SHARE = Decimal("0.80")
HOURS_PER_VOLUNTEER_YEAR = 20
RESIDENT_SHARE = Decimal("0.13")


@dataclass(frozen=True)
class Window:
    """The slice of the ledger a report reads: service dates and a position."""

    period_start: dt.date
    period_end: dt.date
    ledger_position: int


def period_kind_of(period: str) -> str:
    """month, quarter or year, from how the period is written."""
    if "-Q" in (period or ""):
        return "quarter"
    return "month" if "-" in (period or "") else "year"


def percent(numerator: int, denominator: int) -> str | None:
    """A share as a percentage with two decimals (exact; None when the base is 0)."""
    if not denominator:
        return None
    return str((Decimal(numerator) * 100 / denominator).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def months_elapsed(end: dt.date) -> int:
    """Whole months of the year completed on `end` (a cut-off on 12-10 has completed 11)."""
    return end.month if (end + dt.timedelta(days=1)).day == 1 else end.month - 1


def _months(start: dt.date, end: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    months, day = [], start
    while day <= end:
        after = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        months.append((f"{day:%Y-%m}", day, min(after - dt.timedelta(days=1), end)))
        day = after
    return months


def team_figures(session: Session, root: Unit, start: dt.date, ytd_start: dt.date, end: dt.date) -> list[dict]:
    """Concentrated services per team, in the period and year to date, against 12 a year."""
    concentrated = and_(Activity.is_concentrated.is_(True), Activity.held_on >= ytd_start, Activity.held_on <= end)
    rows = session.execute(
        select(Team.id, Team.name, Team.unit_id,
               func.sum(case((and_(concentrated, Activity.held_on >= start), 1), else_=0)),
               func.sum(case((concentrated, 1), else_=0)))
        .join(Unit, Unit.id == Team.unit_id).outerjoin(Activity, Activity.team_id == Team.id)
        .where(Unit.path.startswith(root.path)).group_by(Team.id, Team.name, Team.unit_id).order_by(Team.id)).all()
    target = CONCENTRATED_PER_YEAR * months_elapsed(end) // 12
    return [{"team_id": team_id, "name": name, "unit_id": unit_id, "in_period": int(in_period or 0),
             "year_to_date": int(ytd or 0), "target_year_to_date": target, "target_year": CONCENTRATED_PER_YEAR,
             "is_met": int(ytd or 0) >= target} for team_id, name, unit_id, in_period, ytd in rows]


def stations_without_activity(session: Session, root: Unit, start: dt.date, end: dt.date) -> list[dict]:
    """Each station (站) of the subtree and the months of the period it held no activity in."""
    months = _months(start, end)
    station = Unit.__table__.alias("station")
    counts = [func.sum(case((and_(Activity.held_on >= first, Activity.held_on <= last), 1), else_=0))
              for _, first, last in months]
    rows = session.execute(
        select(station.c.id, station.c.name, *counts)
        .select_from(station).outerjoin(Unit, Unit.path.startswith(station.c.path))
        .outerjoin(Activity, Activity.unit_id == Unit.id)
        .where(station.c.kind == "station", station.c.path.startswith(root.path))
        .group_by(station.c.id, station.c.name).order_by(station.c.id)).all()
    result = []
    for row in rows:
        empty = [label for (label, _, _), count in zip(months, row[2:]) if not count]
        result.append({"unit_id": row[0], "name": row[1], "months_without_activity": empty,
                       "is_met": not empty})
    return result


def _registered(units: Subtree, end: dt.date):
    return (select(Volunteer.id, Volunteer.is_party_member)
            .where(units.contains(Volunteer.home_unit_id), Volunteer.registered_on <= end,
                   Volunteer.status == "active")).cte("registered")


def ledger_figures(session: Session, root: Unit, window: Window) -> dict:
    """Everything the targets read from the ledger, in one statement over one scan of the postings.

    The served minutes (`ranking_sql.served_minutes`: the postings, no per-record step) are
    summed once per volunteer and child unit of the root (`per_child`); the volunteers who served,
    their minutes, the party members among the registered and the served per child unit are
    all read from that.  Rows: ("people", None, registered, party members, party members who
    served), ("served", None, minutes, volunteers), ("child", child unit id, volunteers, None, None)."""
    units = subtree(session, root.path)
    served_postings, groups = served_minutes(units, window), unit_groups(session, root)
    per_child = (select(served_postings.c.volunteer_id, groups.c.group_id,
                        int_sum(served_postings.c.minutes).label("minutes"))
                 .select_from(served_postings).outerjoin(groups, groups.c.unit_id == served_postings.c.unit_id)
                 .group_by(served_postings.c.volunteer_id, groups.c.group_id)).cte("per_child")
    served = (select(per_child.c.volunteer_id, int_sum(per_child.c.minutes).label("minutes"))
              .group_by(per_child.c.volunteer_id).having(int_sum(per_child.c.minutes) > 0)).cte("served")
    registered = _registered(units, window.period_end)
    is_party = registered.c.is_party_member.is_(True)
    people = (select(literal("people").label("kind"), cast(null(), Integer).label("unit_id"),
                     cast(func.count(registered.c.id), BigInteger).label("a"),
                     cast(func.sum(case((is_party, 1), else_=0)), BigInteger).label("b"),
                     cast(func.sum(case((and_(is_party, served.c.minutes.is_not(None)), 1), else_=0)),
                          BigInteger).label("c"))
              .select_from(registered).outerjoin(served, served.c.volunteer_id == registered.c.id))
    totals = select(literal("served"), cast(null(), Integer), cast(func.sum(served.c.minutes), BigInteger),
                    cast(func.count(), BigInteger), cast(null(), BigInteger))
    children = (select(literal("child"), per_child.c.group_id, cast(func.count(), BigInteger),
                       cast(null(), BigInteger), cast(null(), BigInteger))
                .where(per_child.c.group_id.is_not(None), per_child.c.minutes > 0).group_by(per_child.c.group_id))
    result = {"child": {}}
    for kind, unit_id, a, b, c in session.execute(union_all(people, totals, children)):
        if kind == "child":
            result["child"][unit_id] = int(a)
        else:
            result[kind] = (int(a or 0), int(b or 0), int(c or 0))
    return result


def people_figures(figures: dict, window: Window) -> dict:
    """Party-member participation and hours per volunteer, from `ledger_figures`."""
    volunteers, party, party_served = figures["people"]
    total_minutes, served_count, _ = figures["served"]
    months = months_elapsed(window.period_end)
    target_minutes = HOURS_PER_VOLUNTEER_YEAR * 60 * months // 12
    average = (Decimal(total_minutes) / volunteers / 60).quantize(Decimal("0.01")) if volunteers else None
    return {
        "party": {"members": party, "served": party_served, "rate_percent": percent(party_served, party),
                  "target_percent": str(PARTY_SHARE * 100), "is_met": party > 0 and
                  Decimal(party_served) >= PARTY_SHARE * party},
        "hours": {"volunteers": volunteers, "minutes": total_minutes, "hours": hours_text(total_minutes),
                  "average_hours": str(average) if average is not None else None,
                  "target_hours": hours_text(target_minutes), "target_hours_year": HOURS_PER_VOLUNTEER_YEAR,
                  "is_met": volunteers > 0 and total_minutes >= target_minutes * volunteers},
        "served_volunteers": served_count,
    }


def resident_figures(session: Session, root: Unit, figures: dict) -> dict:
    """Distinct volunteers who served, against 13 % of the population, for the root and its children."""
    counts = figures["child"]
    children = session.execute(select(Unit).where(Unit.parent_id == root.id).order_by(Unit.id)).scalars().all()
    by_unit = [_resident_row(c.id, c.name, int(counts.get(c.id, 0)), c.population) for c in children]
    population = root.population
    if population is None and children and all(c.population is not None for c in children):
        population = sum(c.population for c in children)
    return {**_resident_row(root.id, root.name, figures["served"][1], population), "by_unit": by_unit}


def _resident_row(unit_id: int, name: str, served: int, population: int | None) -> dict:
    return {"unit_id": unit_id, "name": name, "served": served, "population": population,
            "rate_percent": percent(served, population or 0), "target_percent": str(RESIDENT_SHARE * 100),
            "is_met": bool(population) and Decimal(served) >= RESIDENT_SHARE * population}


def compute_targets(session: Session, root: Unit, period: str, position: int,
                    cutoff: dt.date | None = None) -> dict:
    """Every target figure of a unit subtree for a finished period — or for the period up to a
    cut-off date inside it (截至日期: year or quarter to date) — at a ledger position."""
    start, period_end = period_bounds(period_kind_of(period), period)
    end = cutoff or period_end
    ytd_start = dt.date(end.year, 1, 1)
    window = Window(ytd_start, end, position)
    with report_settings(session):
        figures = ledger_figures(session, root, window)
    people = people_figures(figures, window)
    return {"unit_id": root.id, "unit_name": root.name, "period": period, "period_start": start.isoformat(),
            "period_end": period_end.isoformat(), **cutoff_public(cutoff, period_end),
            "year_to_date_from": ytd_start.isoformat(), "ledger_position": position,
            "months_elapsed": months_elapsed(end),
            "teams": team_figures(session, root, start, ytd_start, end),
            "stations": stations_without_activity(session, root, start, end),
            "party": people["party"], "hours": people["hours"], "served_volunteers": people["served_volunteers"],
            "residents": resident_figures(session, root, figures)}


def _window_of(period: str, today: dt.date, as_of) -> dt.date | None:
    """The cut-off of a report (None: the whole period, which must have ended)."""
    if as_of is None:
        require_ended(period_kind_of(period), period, today)
        return None
    return require_cutoff(period_kind_of(period), period, as_of, today)[2]


def due_on(period: str) -> dt.date:
    """The report of a period is due by the 5th of the month after it ends."""
    end = period_bounds(period_kind_of(period), period)[1]
    after = end + dt.timedelta(days=1)
    return dt.date(after.year, after.month, 5)


def report_public(report: TargetReport) -> dict:
    """A stored targets report as shown to clients."""
    return {"id": report.id, "unit_id": report.unit_id, "period": report.period,
            **cutoff_public(report.cutoff_on, period_bounds(period_kind_of(report.period), report.period)[1]),
            "ledger_position": report.ledger_position, "due_on": report.due_on.isoformat() if report.due_on else None,
            "trigger": report.trigger, "created_by": report.created_by,
            "created_at": report.created_at.isoformat() if report.created_at else None,
            "is_on_time": report.due_on is None or report.created_at is None
            or report.created_at.date() <= report.due_on, "figures": report.figures}


def make_report(session: Session, principal: Principal, unit_id: int, period: str, today: dt.date, *,
                position: int | None = None, trigger: str = "on_demand", as_of: dt.date | str | None = None) -> dict:
    """Compute and store the targets report of a finished period (a scheduled one once per period),
    or of a period to date as of a cut-off inside it (`as_of`, 截至日期; never the period's due report)."""
    require_role(principal, "admin", "unit_admin")
    root = require_unit(session, principal, unit_id)
    cutoff = _window_of(period, today, as_of)
    current = ledger_position(session)
    if position is None:
        position = current
    elif isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= current:
        raise ValidationFailed(f"position must be a transaction id from 0 to {current}", field="position")
    key = (f"scheduled:{unit_id}:{period}" if trigger == "scheduled" else f"report:{unit_id}:{period}:{position}"
           + (f":as-of:{cutoff.isoformat()}" if cutoff else ""))
    existing = session.execute(select(TargetReport).where(TargetReport.report_key == key)).scalar_one_or_none()
    if existing is not None:
        return report_public(existing)
    report = TargetReport(report_key=key, unit_id=root.id, period=period, cutoff_on=cutoff, ledger_position=position,
                          due_on=None if cutoff else due_on(period), trigger=trigger,
                          figures=compute_targets(session, root, period, position, cutoff),
                          created_by=principal.username)
    session.add(report)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="targets.report", target=f"target_report:{report.id}",
                           detail={"unit_id": unit_id, "period": period, "as_of": cutoff and cutoff.isoformat()}))
    return report_public(report)


def preview(session: Session, principal: Principal, unit_id: int, period: str, today: dt.date,
            as_of: dt.date | str | None = None) -> dict:
    """The targets figures now (of a finished period, or to date as of a cut-off), without storing a report."""
    require_role(principal, "admin", "unit_admin", "auditor")
    root = require_unit(session, principal, unit_id)
    cutoff = _window_of(period, today, as_of)
    return compute_targets(session, root, period, ledger_position(session), cutoff)


def require_report(session: Session, principal: Principal, report_id: int) -> TargetReport:
    """A stored report whose unit lies in scope."""
    require_role(principal, "admin", "unit_admin", "auditor")
    report = session.get(TargetReport, report_id)
    if report is None:
        raise NotFound(f"targets report {report_id} not found", field="report_id")
    require_unit(session, principal, report.unit_id, field="report_id")
    return report


def list_reports(session: Session, principal: Principal, unit_id: int) -> list[dict]:
    """Stored reports of a unit, newest first."""
    require_role(principal, "admin", "unit_admin", "auditor")
    require_unit(session, principal, unit_id)
    rows = session.execute(select(TargetReport).where(TargetReport.unit_id == unit_id)
                           .order_by(TargetReport.id.desc()).limit(200)).scalars()
    return [report_public(r) for r in rows]
