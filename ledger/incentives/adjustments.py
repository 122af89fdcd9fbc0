"""Adjustment runs (追溯调整): a retroactive policy change is applied only when confirmed.

Publishing a version with a past effective date changes nothing posted.  An adjustment run
reprices the period's posted records of a unit subtree under the versions now in force,
stores per record what was awarded and what the policy now gives, and shows the difference
per volunteer.  Confirming posts each difference as its own `adjustment` transaction (key
`adjustment:{run}:{record}`, naming the record and the version), once: a confirmed run
posts nothing more, and a run the ledger has moved past since it was computed is refused.
Only points are adjusted; credited hours stay as posted.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.accounts import POINTS, account_id
from ledger.book.postings import Leg, ledger_position, post
from ledger.errors import Conflict, NotFound
from ledger.incentives import pricing
from ledger.incentives.policies import require_publisher
from ledger.incentives.repricing import Repriced, policy_in_force_for_records, reprice
from ledger.incentives.tables import AdjustmentLine, AdjustmentRun
from ledger.incentives.whatif import check_period
from ledger.people.access import Principal, require_unit
from ledger.people.tables import Unit, Volunteer
from ledger.people.volunteers import lock_volunteer
from ledger.service.tables import ServiceRecord
from ledger.store.tables import AuditEntry, utcnow


@dataclass(frozen=True)
class RunAdjustment:
    """Command: compute the adjustment of a unit subtree's records served in a period."""

    unit_id: int
    period_from: dt.date
    period_to: dt.date


def _differences(session: Session, unit: Unit, period_from: dt.date, period_to: dt.date) -> list[Repriced]:
    repriced = reprice(session, unit.path, period_from, period_to, policy_in_force_for_records(session))
    return [item for item in repriced if item.points_difference != 0]


def _by_volunteer(lines: list[AdjustmentLine]) -> list[dict]:
    totals: dict[int, dict] = defaultdict(lambda: {"records": 0, "points_before": 0, "points_after": 0,
                                                   "difference": 0})
    for line in lines:
        entry = totals[line.volunteer_id]
        entry["records"] += 1
        entry["points_before"] += line.points_before
        entry["points_after"] += line.points_after
        entry["difference"] += line.difference
    return [{"volunteer_id": volunteer_id, **entry} for volunteer_id, entry in sorted(totals.items())]


def run_public(session: Session, run: AdjustmentRun) -> dict:
    """A run with its per-volunteer differences and its per-record lines."""
    lines = _lines(session, run.id)
    return {"id": run.id, "unit_id": run.unit_id, "period_from": run.period_from.isoformat(),
            "period_to": run.period_to.isoformat(), "status": run.status, "records": run.records,
            "volunteers": run.volunteers, "points_difference": run.points_difference,
            "ledger_position": run.ledger_position, "created_by": run.created_by,
            "confirmed_by": run.confirmed_by,
            "confirmed_at": run.confirmed_at.isoformat() if run.confirmed_at else None,
            "by_volunteer": _by_volunteer(lines),
            "lines": [{"service_record_id": l.service_record_id, "volunteer_id": l.volunteer_id,
                       "unit_id": l.unit_id, "service_date": l.service_date.isoformat(),
                       "policy_version_id": l.policy_version_id, "points_before": l.points_before,
                       "points_after": l.points_after, "difference": l.difference,
                       "transaction_id": l.transaction_id} for l in lines]}


def _lines(session: Session, run_id: int) -> list[AdjustmentLine]:
    return list(session.execute(select(AdjustmentLine).where(AdjustmentLine.run_id == run_id)
                                .order_by(AdjustmentLine.volunteer_id, AdjustmentLine.service_record_id)).scalars())


def run_adjustment(session: Session, principal: Principal, command: RunAdjustment) -> AdjustmentRun:
    """Compute (not post) the per-record and per-volunteer differences; stored for review."""
    unit = require_publisher(session, principal, command.unit_id)
    check_period(command.period_from, command.period_to)
    differences = _differences(session, unit, command.period_from, command.period_to)
    run = AdjustmentRun(unit_id=unit.id, period_from=command.period_from, period_to=command.period_to,
                        status="computed", records=len(differences),
                        volunteers=len({item.volunteer_id for item in differences}),
                        points_difference=sum(item.points_difference for item in differences),
                        ledger_position=ledger_position(session), created_by=principal.username, summary={})
    session.add(run)
    session.flush()
    session.add_all([AdjustmentLine(run_id=run.id, service_record_id=item.record_id,
                                    volunteer_id=item.volunteer_id, unit_id=item.unit_id,
                                    service_date=item.service_date, policy_version_id=item.policy_version_id,
                                    points_before=item.points_before, points_after=item.points_after,
                                    difference=item.points_difference) for item in differences])
    session.flush()
    return run


def require_run(session: Session, principal: Principal, run_id: int, *, lock: bool = False) -> AdjustmentRun:
    """A run whose unit lies in the caller's scope."""
    query = select(AdjustmentRun).where(AdjustmentRun.id == run_id)
    run = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if run is None:
        raise NotFound(f"adjustment run {run_id} not found", field="run_id")
    require_unit(session, principal, run.unit_id, field="run_id")
    return run


def confirm_adjustment(session: Session, principal: Principal, run_id: int) -> AdjustmentRun:
    """Post the run's differences as adjustment transactions, once; a second confirm posts nothing."""
    run = require_run(session, principal, run_id, lock=True)
    unit = require_publisher(session, principal, run.unit_id)
    if run.status == "confirmed":
        return run
    lines = _lines(session, run.id)
    for volunteer_id in sorted({line.volunteer_id for line in lines}):
        lock_volunteer(session, volunteer_id)
    now = {(i.record_id, i.points_before, i.points_after)
           for i in _differences(session, unit, run.period_from, run.period_to)}
    shown = {(l.service_record_id, l.points_before, l.points_after) for l in lines}
    if now != shown:
        raise Conflict("the ledger changed since this run was computed; compute a new run and review it",
                       field="run_id")
    for line in sorted(lines, key=lambda l: (l.volunteer_id, -l.difference, l.service_record_id)):
        line.transaction_id = _post_line(session, run, line, principal.username)
    run.status, run.confirmed_by, run.confirmed_at = "confirmed", principal.username, utcnow()
    session.add(AuditEntry(actor=principal.username, action="policy.adjustment.confirm",
                           target=f"adjustment_run:{run.id}",
                           detail={"records": run.records, "points_difference": run.points_difference}))
    session.flush()
    return run


def _post_line(session: Session, run: AdjustmentRun, line: AdjustmentLine, actor: str) -> int:
    """One adjustment transaction: the volunteer's points against the funding unit's issued points."""
    record = session.get(ServiceRecord, line.service_record_id)
    policy = pricing.policy_of_version(session, line.policy_version_id)
    home_unit_id = session.execute(select(Volunteer.home_unit_id)
                                   .where(Volunteer.id == line.volunteer_id)).scalar_one()
    funder = pricing.funding_unit(session, policy, record, home_unit_id)
    legs = [Leg(account_id(session, "volunteer_points", line.volunteer_id), POINTS, line.difference,
                line.volunteer_id, record.unit_id),
            Leg(account_id(session, "unit_points_issued", funder), POINTS, -line.difference,
                line.volunteer_id, funder)]
    tx = post(session, kind="adjustment", key=f"adjustment:{run.id}:{record.id}", occurred_on=line.service_date,
              actor=actor, legs=legs, volunteer_id=line.volunteer_id, unit_id=record.unit_id,
              policy_version_id=line.policy_version_id, service_record_id=record.id,
              memo=f"追溯调整批次 {run.id}：{line.points_before} → {line.points_after} 积分")
    return tx.id
