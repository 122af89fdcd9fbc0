"""Pricing a service record under the policy in force, and keeping star levels (星级) true.

The policy in force for a record is the newest published version effective on the service
date for the nearest unit up the tree that has one; with none published anywhere up the
tree, the built-in default policy (`default_policy.toml`) applies and version is None.
"""
from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from ledger.book.tables import Account, Posting, Transaction
from ledger.book.year_minutes import VolunteerYearMinutes
from ledger.incentives import funding
from ledger.incentives.caps import scopes_capped
from ledger.incentives.document import CAP_SCOPES
from ledger.incentives.funding import county_of, version_in_force, version_label
from ledger.incentives.policy import Policy, ServiceFacts, service_memo
from ledger.incentives.stars import StarChange, history_months, needs_history, star_change, star_level
from ledger.incentives.tables import PolicyVersion, StarEvent
from ledger.people.tables import Membership, Unit, Volunteer
from ledger.service.tables import Activity, ServiceRecord
from ledger.store.session_state import session_state

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")


@dataclass(frozen=True)
class PricedService:
    """A record priced: the policy version used, minutes credited, points, and who funds them."""

    policy_version_id: int | None
    credited_minutes: int
    points: int
    funding_unit_id: int
    memo: str
    breakdown: dict


@lru_cache(maxsize=1)
def default_policy_text() -> str:
    """The text of the built-in default policy."""
    return DEFAULT_POLICY_PATH.read_text(encoding="utf-8")


@lru_cache(maxsize=256)
def parse_cached(text: str) -> Policy:
    """Parse a policy document once per distinct text."""
    return Policy.parse(text)


def default_policy() -> Policy:
    """The built-in default policy (national star scheme, 10 points an hour)."""
    return parse_cached(default_policy_text())


def ancestors(session: Session, unit_id: int) -> list[int]:
    """The unit's id and those of every unit above it, nearest first.

    Units never move, so the path is remembered for the rest of the session (one request).
    """
    paths = session_state(session).unit_paths
    if unit_id not in paths:
        paths[unit_id] = session.execute(select(Unit.path).where(Unit.id == unit_id)).scalar_one()
    return [int(part) for part in paths[unit_id].strip("/").split("/")][::-1]


def policy_in_force(session: Session, unit_id: int, on_date: dt.date) -> tuple[PolicyVersion | None, Policy]:
    """The version in force for a unit on a date, and its parsed policy.

    The newest version effective on the date of the nearest unit up the tree that has one;
    one query over every ancestor rather than one per level.
    """
    found = session_state(session).policies_in_force  # emptied when a version is published
    if (unit_id, on_date) in found:
        return found[(unit_id, on_date)]
    chain = ancestors(session, unit_id)
    versions = session.execute(
        select(PolicyVersion).where(PolicyVersion.unit_id.in_(chain), PolicyVersion.effective_from <= on_date)
    ).scalars().all()
    version = version_in_force(chain, versions, on_date)
    answer: tuple[PolicyVersion | None, Policy] = (
        (version, parse_cached(version.document)) if version is not None else (None, default_policy()))
    found[(unit_id, on_date)] = answer
    return answer


def forget_policies_in_force(session: Session) -> None:
    """Drop the session's remembered policies in force (a version was just published)."""
    session_state(session).policies_in_force.clear()


def funding_unit(session: Session, policy: Policy, record: ServiceRecord, home_unit_id: int) -> int:
    """Who funds a record's points (`funding.funding_unit`): the home unit, or the record's county."""
    return funding.funding_unit(policy, home_unit_id, county_of(ancestors(session, record.unit_id)))


def home_unit_on(session: Session, volunteer_id: int, on_date: dt.date) -> int:
    """The volunteer's home unit on a date (`funding.home_unit_on` over the membership history)."""
    periods = session.execute(
        select(Membership.valid_from, Membership.valid_to, Membership.unit_id).where(
            Membership.volunteer_id == volunteer_id, Membership.is_home.is_(True),
            Membership.valid_from <= on_date,
            (Membership.valid_to.is_(None)) | (Membership.valid_to > on_date))).all()
    if periods:
        return funding.home_unit_on(periods, on_date, periods[0][2])
    return session.execute(select(Volunteer.home_unit_id).where(Volunteer.id == volunteer_id)).scalar_one()


def credited_minutes_between(session: Session, volunteer_id: int, start: dt.datetime,
                             end: dt.datetime, exclude_record_id: int | None = None) -> int:
    """Minutes already credited for the volunteer's posted records that started in [start, end)."""
    query = (
        select(func.coalesce(func.sum(Posting.amount), 0))
        .select_from(ServiceRecord)  # a posted record names its service transaction
        .join(Posting, Posting.transaction_id == ServiceRecord.transaction_id)
        .join(Account, Account.id == Posting.account_id)
        .where(ServiceRecord.volunteer_id == volunteer_id, ServiceRecord.status == "posted",
               ServiceRecord.started_at >= start, ServiceRecord.started_at < end,
               Account.kind == "volunteer_minutes")
    )
    if exclude_record_id is not None:
        query = query.where(ServiceRecord.id != exclude_record_id)
    return int(session.execute(query).scalar_one())


def _credited_in_scopes_query(with_points: bool):
    """The minutes (and points) credited to the volunteer's posted records in each cap's scope.

    One row: the sums for the record's activity, day, week, month and year (`caps.scope_keys`),
    minutes first, then points when `with_points`.  A posted record names its service
    transaction (`service_records.transaction_id`), dated on the service day: its postings are
    read by that id and date, without the transactions table (partitioned by month on
    PostgreSQL, where a join to it planned every month's partition on each call)."""
    sr, p, a = ServiceRecord.__table__, Posting.__table__, Account.__table__

    def within(scope: str):
        if scope == "activity":
            return sr.c.activity_id == bindparam("activity")
        return (sr.c.started_at >= bindparam(f"{scope}_start")) & (sr.c.started_at < bindparam(f"{scope}_end"))

    kinds = ("volunteer_minutes", "volunteer_points") if with_points else ("volunteer_minutes",)
    sums = [func.coalesce(func.sum(case(((a.c.kind == kind) & within(scope), p.c.amount), else_=0)), 0)
            for kind in kinds for scope in CAP_SCOPES]
    return (
        select(*sums)
        .select_from(sr.join(p, p.c.transaction_id == sr.c.transaction_id).join(a, a.c.id == p.c.account_id))
        .where(sr.c.volunteer_id == bindparam("volunteer"), sr.c.status == "posted",
               sr.c.started_at >= bindparam("window_start"), sr.c.started_at < bindparam("window_end"),
               sr.c.id != bindparam("exclude"), a.c.kind.in_(kinds),
               # a service posting is dated by its service day: the window's postings partitions only
               p.c.occurred_on >= bindparam("window_first"), p.c.occurred_on < bindparam("window_next"))
    )


# built once each: one of them runs for every posting
_CREDITED = {False: _credited_in_scopes_query(False), True: _credited_in_scopes_query(True)}


def _scope_bounds(day: dt.date) -> dict[str, dt.datetime]:
    """[start, end) of the day, week (Monday to Sunday), month and year of `day`."""
    start = dt.datetime.combine(day, dt.time())
    week = start - dt.timedelta(days=day.weekday())
    month_next = dt.datetime(day.year + day.month // 12, day.month % 12 + 1, 1)
    bounds = {"day_start": start, "day_end": start + dt.timedelta(days=1),
              "week_start": week, "week_end": week + dt.timedelta(days=7),
              "month_start": dt.datetime(day.year, day.month, 1), "month_end": month_next,
              "year_start": dt.datetime(day.year, 1, 1), "year_end": dt.datetime(day.year + 1, 1, 1)}
    bounds["window_start"] = min(bounds["week_start"], bounds["year_start"])
    bounds["window_end"] = max(bounds["week_end"], bounds["year_end"])
    return bounds


def credited_in_scopes(session: Session, volunteer_id: int, activity_id: int, day: dt.date,
                       exclude_record_id: int | None = None,
                       with_points: bool = False) -> tuple[dict[str, int], dict[str, int]]:
    """(minutes, points) credited to the volunteer's posted records in each cap scope of a
    record of `activity_id` on `day` (points: only `with_points`, else none counted)."""
    bounds = _scope_bounds(day)
    row = session.connection().execute(_CREDITED[with_points], {
        **bounds, "volunteer": volunteer_id, "activity": activity_id,
        "exclude": -1 if exclude_record_id is None else exclude_record_id,
        "window_first": bounds["window_start"].date(), "window_next": bounds["window_end"].date()}).one()
    minutes = {scope: int(value) for scope, value in zip(CAP_SCOPES, row)}
    points = {scope: int(value) for scope, value in zip(CAP_SCOPES, row[len(CAP_SCOPES):])}
    return minutes, points


def facts_for(session: Session, record: ServiceRecord, activity: Activity, rating: int | None = None,
              exclude_self: bool = False, policy: Policy | None = None) -> ServiceFacts:
    """The facts a policy prices a record by (caps count what was already credited).

    `exclude_self` leaves the record's own minutes out of the caps: for repricing a record
    that is already posted (a later 评单 rating).  `policy`: the points are read only when
    its caps limit points.
    """
    day = record.started_at.date()
    exclude = record.id if exclude_self else None
    with_points = policy is None or bool(scopes_capped(policy.caps, "points"))
    used_minutes, used_points = credited_in_scopes(session, record.volunteer_id, record.activity_id, day,
                                                   exclude, with_points)
    return ServiceFacts(
        minutes=record.minutes, service_date=day, category=activity.category,
        tags=frozenset(activity.tags or ()), rating=rating, complaint_upheld=record.complaint_upheld,
        service_kind=record.service_kind, credited_minutes_same_day=used_minutes["day"],
        credited_minutes_same_year=used_minutes["year"], used_minutes=used_minutes, used_points=used_points)


def policy_of_version(session: Session, version_id: int | None) -> Policy:
    """The parsed policy of a stored version (None: the built-in default)."""
    if version_id is None:
        return default_policy()
    return parse_cached(session.get(PolicyVersion, version_id).document)


def record_amounts(session: Session, record_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(minutes, points) on the volunteer's own accounts from every transaction of each record.

    Service, rating, complaint and adjustment transactions and their reversals all count, so
    this is what the ledger has awarded for the record so far.
    """
    found: dict[int, list[int]] = {record_id: [0, 0] for record_id in record_ids}
    for start in range(0, len(record_ids), 500):
        chunk = record_ids[start:start + 500]
        rows = session.execute(
            select(Transaction.service_record_id, Account.kind, func.sum(Posting.amount))
            .join(Posting, (Posting.transaction_id == Transaction.id)
                  & (Posting.occurred_on == Transaction.occurred_on))
            .join(Account, Account.id == Posting.account_id)
            .where(Transaction.service_record_id.in_(chunk),
                   Account.kind.in_(("volunteer_minutes", "volunteer_points")))
            .group_by(Transaction.service_record_id, Account.kind)
        ).all()
        for record_id, kind, total in rows:
            found[record_id][0 if kind == "volunteer_minutes" else 1] += int(total)
    return {record_id: (minutes, points) for record_id, (minutes, points) in found.items()}


def price_record(session: Session, record: ServiceRecord, activity: Activity) -> PricedService:
    """Price a record by the policy in force at its unit on its service date."""
    version, policy = policy_in_force(session, record.unit_id, record.started_at.date())
    pricing = policy.price(facts_for(session, record, activity, rating=record.rating, policy=policy))
    home_unit_id = home_unit_on(session, record.volunteer_id, record.started_at.date())
    memo = service_memo(activity.title, pricing.credited_minutes, pricing.points, version_label(version),
                        pricing.multiplier)
    return PricedService(policy_version_id=version.id if version else None,
                         credited_minutes=pricing.credited_minutes, points=pricing.points,
                         funding_unit_id=funding_unit(session, policy, record, home_unit_id),
                         memo=memo, breakdown=pricing.breakdown)


def current_star_level(session: Session, volunteer_id: int) -> int:
    """The star level last recorded for a volunteer (0 when none)."""
    level = session.execute(
        select(StarEvent.level_after).where(StarEvent.volunteer_id == volunteer_id)
        .order_by(StarEvent.id.desc()).limit(1)).scalar_one_or_none()
    return int(level or 0)


def minutes_in_year(session: Session, volunteer_id: int, year: int) -> int:
    """Minutes on the volunteer's hours account dated within one calendar year.

    One row of `volunteer_year_minutes`, kept with the postings (`postings.post`, the bulk
    path) and checked against them by `verify`: the same figure as summing the year's postings.
    """
    total = session.execute(
        select(VolunteerYearMinutes.minutes)
        .where(VolunteerYearMinutes.volunteer_id == volunteer_id, VolunteerYearMinutes.year == year)
    ).scalar_one_or_none()
    return int(total or 0)


def derived_star_level(session: Session, volunteer_id: int, on_date: dt.date) -> tuple[int, int | None]:
    """The star level the hours give today under the home unit's policy, and that version id."""
    return _derived(session, volunteer_id, on_date, *_star_inputs(session, volunteer_id, on_date.year)[1:])


def _derived(session: Session, volunteer_id: int, on_date: dt.date, total: int,
             this_year: int) -> tuple[int, int | None]:
    volunteer = session.get(Volunteer, volunteer_id)
    version, policy = policy_in_force(session, volunteer.home_unit_id, on_date)
    level = star_level(policy, total, this_year, volunteer.registered_on, on_date)
    return level, version.id if version else None


def _star_inputs_query():
    se, a, ym = StarEvent.__table__, Account.__table__, VolunteerYearMinutes.__table__
    level = (select(se.c.level_after).where(se.c.volunteer_id == bindparam("volunteer"))
             .order_by(se.c.id.desc()).limit(1).scalar_subquery())
    total = (select(a.c.balance).where(a.c.kind == "volunteer_minutes", a.c.owner_id == bindparam("volunteer"))
             .scalar_subquery())
    this_year = (select(ym.c.minutes)
                 .where(ym.c.volunteer_id == bindparam("volunteer"), ym.c.year == bindparam("year"))
                 .scalar_subquery())
    return select(level, total, this_year)


_STAR_INPUTS = _star_inputs_query()


def _star_inputs(session: Session, volunteer_id: int, year: int) -> tuple[int, int, int]:
    """(star level last recorded, minutes on the hours account, minutes in `year`): one statement."""
    row = session.connection().execute(_STAR_INPUTS, {"volunteer": volunteer_id, "year": year}).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def update_star_level(session: Session, volunteer_id: int, on_date: dt.date, transaction_id: int | None,
                      reason: str) -> StarEvent | None:
    """Record a star change event when the hours now give a different level (`stars.star_change`)."""
    before, total, this_year = _star_inputs(session, volunteer_id, on_date.year)
    volunteer = session.get(Volunteer, volunteer_id)
    version, policy = policy_in_force(session, volunteer.home_unit_id, on_date)
    history = None
    if needs_history(policy):  # levels that ask for monthly service or no upheld complaint
        from ledger.incentives.star_review import star_histories
        history = star_histories(session, [volunteer_id], on_date, history_months(policy))[volunteer_id]
    change = star_change(policy, before, total, this_year, volunteer.registered_on, on_date,
                         volunteer_id=volunteer_id, transaction_id=transaction_id,
                         policy_version_id=version.id if version else None, reason=reason, history=history)
    return record_star_change(session, change) if change else None


def record_star_change(session: Session, change: StarChange) -> StarEvent:
    """Write a star event (the batch path writes the same fields as rows)."""
    event = StarEvent(**vars(change))
    session.add(event)
    session.flush()
    return event


# Read side: the policy in force remembered in the process, for lookups (summaries).
# Versions are immutable and never deleted (triggers refuse it), so what is in force for a
# unit on a date changes only when a version is published: the caller passes the newest
# version's (id, content hash), read in its own statement, and a new version is a new key.
# Keyed by engine too, so two databases in one process (tests, bench) never share an entry.
_IN_FORCE_CACHE: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()
_IN_FORCE_CACHE_MAX = 4096


def policy_in_force_cached(session: Session, unit_id: int, on_date: dt.date,
                           newest_version: tuple[int | None, str | None],
                           unit_path: str | None = None) -> tuple[int | None, Policy]:
    """`policy_in_force` for reads: (version id or None, policy), remembered per process.

    `newest_version` is (max id, its content hash) of `policy_versions` as the caller just
    read it; `unit_path`, when the caller has it, saves the query of the unit's ancestors.
    """
    engine = session.get_bind().engine  # the engine also when the session is bound to a connection
    entries = _IN_FORCE_CACHE.get(engine)
    if entries is None:
        entries = _IN_FORCE_CACHE.setdefault(engine, {})
    key = (unit_id, on_date, newest_version)
    found = entries.get(key)
    if found is not None:
        return found
    if unit_path is not None:
        session_state(session).unit_paths.setdefault(unit_id, unit_path)
    version, policy = policy_in_force(session, unit_id, on_date)
    found = (version.id if version is not None else None, policy)
    if len(entries) >= _IN_FORCE_CACHE_MAX:  # a day's keys for every unit: rarely reached
        entries.clear()
    entries[key] = found
    return found
