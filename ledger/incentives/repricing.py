"""Repricing a period's posted records under another policy, without writing anything.

Used by the what-if (draft policy) and by adjustment runs (the versions now in force).
Caps per day and per year depend on what was credited before, so each volunteer's records
of the year are walked in service order: records in scope are priced again and count with
their new credited minutes; the others count with what the ledger credited them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import PolicyInvalid, ValidationFailed
from ledger.incentives import pricing
from ledger.incentives.caps import RunningCredit
from ledger.incentives.policy import Policy, ServiceFacts
from ledger.people.tables import Unit, Volunteer
from ledger.service.tables import Activity, ServiceRecord

# (record, activity) -> (policy version id or None, policy)
PolicyFor = Callable[[ServiceRecord, Activity], tuple[int | None, Policy]]


@dataclass(frozen=True)
class Repriced:
    """One record in scope: what the ledger awarded, and what the other policy gives."""

    record_id: int
    volunteer_id: int
    unit_id: int
    home_unit_id: int
    service_date: dt.date
    policy_version_id: int | None
    minutes_before: int
    points_before: int
    minutes_after: int
    points_after: int

    @property
    def points_difference(self) -> int:
        """Points the other policy gives minus points awarded so far."""
        return self.points_after - self.points_before


def _in_scope_records(session: Session, root_path: str, period_from: dt.date, period_to: dt.date):
    start = dt.datetime.combine(period_from, dt.time())
    end = dt.datetime.combine(period_to + dt.timedelta(days=1), dt.time())
    return session.execute(
        select(ServiceRecord.id, ServiceRecord.volunteer_id)
        .join(Unit, Unit.id == ServiceRecord.unit_id)
        .where(Unit.path.startswith(root_path), ServiceRecord.status == "posted",
               ServiceRecord.started_at >= start, ServiceRecord.started_at < end)
    ).all()


def _context_records(session: Session, volunteer_ids: list[int], period_from: dt.date,
                     period_to: dt.date) -> list[tuple[ServiceRecord, Activity, int]]:
    """Posted records of the volunteers from the first week of the first year to the period's end."""
    january = dt.date(period_from.year, 1, 1)
    start = dt.datetime.combine(january - dt.timedelta(days=january.weekday()), dt.time())  # its week's Monday
    end = dt.datetime.combine(period_to + dt.timedelta(days=1), dt.time())
    found = []
    for offset in range(0, len(volunteer_ids), 500):
        chunk = volunteer_ids[offset:offset + 500]
        found += session.execute(
            select(ServiceRecord, Activity, Volunteer.home_unit_id)
            .join(Activity, Activity.id == ServiceRecord.activity_id)
            .join(Volunteer, Volunteer.id == ServiceRecord.volunteer_id)
            .where(ServiceRecord.volunteer_id.in_(chunk), ServiceRecord.status == "posted",
                   ServiceRecord.started_at >= start, ServiceRecord.started_at < end)
        ).all()
    return sorted(found, key=lambda row: (row[0].volunteer_id, row[0].started_at, row[0].id))


def _price(policy: Policy, facts: ServiceFacts):
    try:
        return policy.price(facts)
    except ValidationFailed as error:
        if error.field == "category":
            raise PolicyInvalid("service.categories",
                                f"records in the period use the category {facts.category!r}, "
                                "which this policy does not list") from None
        raise


def reprice(session: Session, root_path: str, period_from: dt.date, period_to: dt.date,
            policy_for: PolicyFor) -> list[Repriced]:
    """Every posted record served in the subtree in [period_from, period_to], priced again."""
    scope = _in_scope_records(session, root_path, period_from, period_to)
    in_scope = {record_id for record_id, _ in scope}
    volunteer_ids = sorted({volunteer_id for _, volunteer_id in scope})
    rows = _context_records(session, volunteer_ids, period_from, period_to)
    awarded = pricing.record_amounts(session, [record.id for record, _, _ in rows])
    result: list[Repriced] = []
    credit = RunningCredit()  # the caps count records in service order, as `caps.capped_minutes` does
    for record, activity, home_unit_id in rows:
        day = record.started_at.date()
        minutes_before, points_before = awarded[record.id]
        if record.id not in in_scope:
            credit.add(record.volunteer_id, record.activity_id, day, minutes_before, points_before)
            continue
        version_id, policy = policy_for(record, activity)
        used_minutes, used_points = credit.before(record.volunteer_id, record.activity_id, day)
        facts = ServiceFacts(
            minutes=record.minutes, service_date=day, category=activity.category,
            tags=frozenset(activity.tags or ()), rating=record.rating,
            complaint_upheld=record.complaint_upheld, service_kind=record.service_kind,
            credited_minutes_same_day=used_minutes["day"], credited_minutes_same_year=used_minutes["year"],
            used_minutes=used_minutes, used_points=used_points)
        priced = _price(policy, facts)
        credit.add(record.volunteer_id, record.activity_id, day, priced.credited_minutes, priced.points)
        result.append(Repriced(record.id, record.volunteer_id, record.unit_id, home_unit_id, day, version_id,
                               minutes_before, points_before, priced.credited_minutes, priced.points))
    return result


def policy_in_force_for_records(session: Session) -> PolicyFor:
    """A `PolicyFor` that uses the versions now published (`pricing.policy_in_force`)."""

    def policy_for(record: ServiceRecord, _activity: Activity) -> tuple[int | None, Policy]:
        version, policy = pricing.policy_in_force(session, record.unit_id, record.started_at.date())
        return (version.id if version else None, policy)

    return policy_for
