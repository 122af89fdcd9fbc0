"""Bulk posting (批量入账) of approved service records: thousands per database round trip.

`post_approved` does for a batch exactly what recording and approving each record one by
one does (`service_records.record_service` + `approve_record`): the same checks (times,
overlaps, scope, a second person approves), the same pricing under the policy in force
(caps count the records before it, in batch order), the same star events, the same
transaction keys, postings, content hashes and cached balances — so `verify` passes and
a ledger loaded in bulk is indistinguishable from one posted record by record.  Only the
way it is written differs: ids are allocated up front, rows go in with COPY (PostgreSQL)
or executemany (SQLite), balances are updated once per account.  All or nothing: any
error leaves the batch unwritten (the caller's unit of work rolls back).

Foreign keys on PostgreSQL: a COPY checks every key of every row it writes, one lookup
each (17 a record, more than half of the server's time for the batch).  The batch reads
every row its rows refer to anyway (volunteers, activities, units, users, policy
versions, accounts) and locks each once, as such a check would (FOR KEY SHARE; volunteers
and accounts more strongly); the rows it refers to among its own rows are its own.  So
where the database role may set `session_replication_role` and no trigger that the setting
would skip fires on INSERT into the tables written, its COPYs run with the per-row checks off
(`SET LOCAL`, for those statements only, then back); else they run checked.  The constraints
stay in the schema for every other writer, the append-only triggers (UPDATE, DELETE) are
untouched, and the zero-sum rule on postings (a deferred constraint trigger enabled ALWAYS,
revision 0017) checks the batch's transactions at COMMIT like any other.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy.orm import Session

from ledger.book.accounts import MINUTES, POINTS
from ledger.book.hashing import Keyed, canonical_text
from ledger.book.keys import book_keys
from ledger.errors import Conflict, Forbidden, ValidationFailed
from ledger.incentives.caps import Used, capped_minutes, capped_points
from ledger.incentives.funding import county_of, funding_unit, funds_by_home_unit
from ledger.incentives.policy import Policy, ServiceFacts, service_memo
from ledger.incentives.star_review import star_histories
from ledger.incentives.stars import StarHistory, history_months, needs_history, star_change
from ledger.people.access import Principal, require_role
from ledger.people.users import require_second_person
from ledger.service.bulk_reads import (
    CREDITED,
    DAY,
    UNIT,
    Accounts,
    BatchFacts,
    credited_before,
    keys_checked_by_batch,
    last_levels,
    minutes_by_year,
    open_accounts,
    refuse_overlaps,
)
from ledger.service.bulk_write import write_plan
from ledger.service.records import check_service_date, check_times
from ledger.store.batch import allocate_ids, copy_rows
from ledger.store.partitions import prepare_months
from ledger.store.tables import utcnow

__all__ = ["ApprovedService", "BulkResult", "copy_rows", "keys_checked_by_batch", "post_approved", "service_hash"]


@dataclass(frozen=True)
class ApprovedService:
    """One service to record and post at once; `recorded_by` is not the approver."""

    volunteer_id: int
    activity_id: int
    started_at: dt.datetime  # local time (Asia/Shanghai), naive
    ended_at: dt.datetime
    recorded_by: int
    minutes: int | None = None  # actual service, travel excluded; defaults to the span
    confirmed_by: str = ""
    service_kind: str | None = None
    source: str = "bulk"


@dataclass
class BulkResult:
    """What a batch wrote."""

    records: int = 0
    transactions: int = 0
    postings: int = 0
    star_events: int = 0
    first_record_id: int | None = None
    last_record_id: int | None = None

    def as_dict(self) -> dict:
        """The result as JSON-ready data."""
        return dict(self.__dict__)


def post_approved(session: Session, principal: Principal, services: Sequence[ApprovedService],
                  now_local: dt.datetime) -> BulkResult:
    """Record, approve (as `principal`) and post a batch of services, in the order given."""
    require_role(principal, "admin", "unit_admin")
    if not services:
        return BulkResult()
    services = list(services)
    minutes = [_checked_minutes(i, s, principal, now_local) for i, s in enumerate(services)]
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # the months of the batch get their partitions first (a short transaction of its own)
        prepare_months(session.get_bind(), {s.started_at.date() for s in services})
    by_batch = postgres and keys_checked_by_batch(session)
    facts = BatchFacts.load(session, principal, services, lock=by_batch)
    for index, service in enumerate(services):  # the dates as record_service checks them
        _with_row(index, check_service_date, service.started_at, facts.held_on[service.activity_id],
                  facts.volunteers[service.volunteer_id][1])
    refuse_overlaps(session, services)
    priced = _price_all(session, facts, services, minutes)
    accounts = open_accounts(session, services, priced)
    record_ids = allocate_ids(session, "service_records", len(services))
    tx_ids = allocate_ids(session, "transactions", len(services))
    plan = _Plan(principal.username, utcnow(), Keyed(book_keys(session).ledger_key))
    plan.add_postings(services, priced, accounts, record_ids, tx_ids)
    plan.add_stars(session, facts, services, priced, accounts, tx_ids, record_ids)
    plan.add_records(services, minutes, priced, record_ids, tx_ids, principal)
    write_plan(session, plan, by_batch)
    return BulkResult(records=len(services), transactions=len(plan.transactions),
                      postings=len(plan.postings), star_events=len(plan.star_events),
                      first_record_id=record_ids[0], last_record_id=record_ids[-1])


def _checked_minutes(index: int, service: ApprovedService, principal: Principal,
                     now_local: dt.datetime) -> int:
    try:
        require_second_person(principal, service.recorded_by)  # the two-person rule, as for one record
        return check_times(service.started_at, service.ended_at, service.minutes, now_local)
    except (Forbidden, ValidationFailed) as exc:
        exc.details = {**exc.details, "row": index}
        raise


def _with_row(index: int, check, *args):
    """A check of one service of the batch; its error names the row."""
    try:
        return check(*args)
    except ValidationFailed as exc:
        exc.details = {**exc.details, "row": index}
        raise


class _Setting:
    """What pricing needs of an activity on a day: its unit, the policy in force and the
    price's key (the policy, the day's date tags, category and tags), and the funder when it
    does not depend on the volunteer."""

    __slots__ = ("unit_id", "version_id", "label", "policy", "price_key", "title", "county", "funder")

    def __init__(self, facts: BatchFacts, activity_id: int, day: dt.date, day_tags: dict) -> None:
        self.unit_id, category, tags, self.title = facts.activities[activity_id]
        self.version_id, self.label, self.policy = facts.policy_in_force(self.unit_id, day)
        tags_key = (id(self.policy), day)
        if tags_key not in day_tags:
            day_tags[tags_key] = self.policy.date_tags_on(day)
        self.price_key = (id(self.policy), day_tags[tags_key], category, tags)
        self.county = county_of(facts.ancestors(self.unit_id))
        self.funder = None if funds_by_home_unit(self.policy) else funding_unit(self.policy, None, self.county)


class _Prices:
    """`Policy.price` of each distinct case of a batch, remembered.

    The price depends on the date only through its date tags, and on the minutes credited
    before only through the caps: pricing the capped minutes with nothing credited before,
    on any day with the same date tags, gives the same minutes, points and multiplier.  So a
    batch prices a few hundred distinct cases, not every record."""

    def __init__(self) -> None:
        self.by_case: dict[tuple, tuple] = {}
        self.by_record: dict[tuple, tuple] = {}  # (activity, day, capped, kind, points) -> (.., .., memo)

    def of(self, activity_id: int, setting: _Setting, day: dt.date, capped: int, kind: str | None,
           used_points: Used) -> tuple:
        """(credited minutes, points, memo) of `capped` minutes of the activity on the day."""
        key = setting.price_key + (capped, kind)
        result = self.by_case.get(key)
        if result is None:
            policy: Policy = setting.policy
            priced = policy.price(ServiceFacts(minutes=capped, service_date=day, category=key[2], tags=key[3],
                                               service_kind=kind))
            result = self.by_case[key] = (priced.credited_minutes, priced.points, priced.multiplier)
        credited, points, multiplier = result
        if setting.policy.caps.points_limits:  # the points caps, on what the volunteer has in their scopes
            points = capped_points(setting.policy.caps, points, used_points)
        found = self.by_record.get((activity_id, day, capped, kind, points))
        if found is None:
            found = self.by_record[(activity_id, day, capped, kind, points)] = (
                credited, points, service_memo(setting.title, credited, points, setting.label, multiplier))
        return found


def _price_all(session: Session, facts: BatchFacts, services: Sequence[ApprovedService],
               minutes: list[int]) -> list[tuple]:
    """Price each record as `pricing.price_record` does, caps counting the records before it.

    The same rules (`caps.capped_minutes`, `Policy.price`, `funding.funding_unit`) on many
    records.  Returns (unit, service date, policy version id, credited minutes, points,
    funding unit, memo) per record.
    """
    day_tags: dict[tuple, frozenset] = {}
    settings: dict[tuple, _Setting] = {}
    days = [s.started_at.date() for s in services]
    setting_of = []
    for service, day in zip(services, days):
        setting = settings.get((service.activity_id, day))
        if setting is None:
            setting = settings[(service.activity_id, day)] = _Setting(facts, service.activity_id, day, day_tags)
        setting_of.append(setting)
    credit, keys_of = credited_before(session, [(s.volunteer_id, s.activity_id, day, wanted, setting.policy.caps)
                                                for s, day, wanted, setting in zip(services, days, minutes, setting_of)])
    prices, out = _Prices(), []
    for service, wanted, day, setting, keys in zip(services, minutes, days, setting_of, keys_of):
        volunteer_id = service.volunteer_id
        used_minutes, used_points = credit.used(keys)
        capped = capped_minutes(setting.policy.caps, wanted, used_minutes)
        credited, points, memo = prices.of(service.activity_id, setting, day, capped, service.service_kind,
                                           used_points)
        credit.count(keys, credited, points)
        funder = setting.funder
        if funder is None:  # funded by the home unit on the service date
            funder = funding_unit(setting.policy, facts.home_unit_on(session, volunteer_id, day), setting.county)
        out.append((setting.unit_id, day, setting.version_id, credited, points, funder, memo))
    return out


def service_hash(keyed: Keyed, actor_json: str, record_id: int, occurred_on: str, memo_json: str,
                 policy_version_id: int | None, legs: list[tuple], volunteer_id: int, unit_id: int) -> str:
    """The content hash of a service transaction (`hashing.canonical_text`, strings already in JSON)."""
    return keyed.text(canonical_text(
        kind_json='"service"', key_json=f'"service:{record_id}"', actor_json=actor_json, memo_json=memo_json,
        occurred_on_json=f'"{occurred_on}"', policy_version_id=policy_version_id, reverses_id=None,
        service_record_id=record_id, unit_id=unit_id, volunteer_id=volunteer_id, legs=legs))


class _Plan:
    """The rows a batch writes, built in memory before one round of COPY / executemany."""

    def __init__(self, actor: str, now: dt.datetime, keyed: Keyed) -> None:
        self.actor, self.now, self.keyed = actor, now, keyed
        self.records: list[tuple] = []
        self.transactions: list[tuple] = []
        self.keys: list[tuple] = []  # transaction_keys: one row per transaction
        self.postings: list[tuple] = []
        self.deltas: dict[int, int] = defaultdict(int)
        self.counter_accounts: set[int] = set()  # units' accounts posted to (shared with other writers)
        self.year_minutes: dict[tuple[int, int], int] = defaultdict(int)  # (volunteer, year) -> minutes
        self.star_events: list[tuple] = []

    def add_postings(self, services, priced, accounts: Accounts, record_ids, tx_ids) -> None:
        """Transactions with their postings and hashes, exactly as `post_record` makes them."""
        actor, now = self.actor, self.now
        actor_json = json.dumps(actor, ensure_ascii=False)
        memo_json: dict[str, str] = {}
        iso: dict[dt.date, str] = {}
        v_minutes, u_served = accounts.ids["volunteer_minutes"], accounts.ids["unit_minutes_served"]
        v_points, u_issued = accounts.ids["volunteer_points"], accounts.ids["unit_points_issued"]
        transactions, postings, deltas = self.transactions, self.postings, self.deltas
        add_transaction, add_posting, add_key = transactions.append, postings.append, self.keys.append
        year_minutes = self.year_minutes
        for service, p, record_id, tx_id in zip(services, priced, record_ids, tx_ids):
            volunteer_id = service.volunteer_id
            unit_id, day, version_id, credited, points, funding, memo = p
            if type(credited) is not int or type(points) is not int:  # as `check_balanced`
                raise Conflict("amounts are whole integers (minutes, points)", field="amount")
            # the four legs of `post_record`, zero ones left out; each pair sums to zero
            legs = []
            if credited:
                legs.append((v_minutes[volunteer_id], MINUTES, credited, volunteer_id, unit_id))
                legs.append((u_served[unit_id], MINUTES, -credited, volunteer_id, unit_id))
            if points:
                legs.append((v_points[volunteer_id], POINTS, points, volunteer_id, unit_id))
                legs.append((u_issued[funding], POINTS, -points, volunteer_id, funding))
            m_json = memo_json.get(memo)
            if m_json is None:
                m_json = memo_json[memo] = json.dumps(memo, ensure_ascii=False)
            day_iso = iso.get(day)
            if day_iso is None:
                day_iso = iso[day] = day.isoformat()
            digest = service_hash(self.keyed, actor_json, record_id, day_iso, m_json, version_id, legs,
                                  volunteer_id, unit_id)
            add_transaction((tx_id, "service", f"service:{record_id}", day, now, actor, volunteer_id,
                             unit_id, version_id, None, record_id, memo, digest))
            add_key((tx_id, f"service:{record_id}", day, None))
            for account, uom, amount, leg_volunteer, leg_unit in legs:
                add_posting((tx_id, account, uom, amount, leg_volunteer, leg_unit, day))
                deltas[account] += amount
            year_minutes[(volunteer_id, day.year)] += credited
        self.counter_accounts.update(u_served[u] for u in u_served)
        self.counter_accounts.update(u_issued[u] for u in u_issued)

    def add_stars(self, session, facts, services, priced, accounts: Accounts, tx_ids, record_ids) -> None:
        """Star events where the hours now give another level (`stars.star_change`, as one by one)."""
        volunteers = {s.volunteer_id for s in services}
        level = last_levels(session, volunteers)
        balances = accounts.balances["volunteer_minutes"]
        total = {v: balances[v] for v in volunteers}
        homes = [facts.policy_in_force(facts.volunteers[s.volunteer_id][0], p[DAY])
                 for s, p in zip(services, priced)]
        by_year = (minutes_by_year(session, services)
                   if any(h[2].star_basis != "cumulative_hours" for h in homes) else defaultdict(int))
        histories = _histories(session, volunteers, homes, priced)
        for service, p, home, tx_id, record_id in zip(services, priced, homes, tx_ids, record_ids):
            v = service.volunteer_id
            day, credited = p[DAY], p[CREDITED]
            total[v] += credited
            by_year[(v, day.year)] += credited
            version_id, _label, policy = home
            history = None
            if histories:  # the batch's own service counts in the months it was served
                history = histories[v] = _served(histories[v], day, credited)
            change = star_change(policy, level.get(v, 0), total[v], by_year[(v, day.year)], facts.volunteers[v][1],
                                 day, volunteer_id=v, transaction_id=tx_id, policy_version_id=version_id,
                                 reason=f"service record {record_id}", history=history)
            if change is not None:
                self.star_events.append((*vars(change).values(), self.now))
                level[v] = change.level_after

    def add_records(self, services, minutes, priced, record_ids, tx_ids, principal) -> None:
        """The service records themselves, already approved and posted."""
        now, approver = self.now, principal.user_id
        self.records = [(record_id, s.volunteer_id, s.activity_id, p[UNIT], s.started_at, s.ended_at, m,
                         s.service_kind, s.recorded_by, s.confirmed_by, "posted", approver, now, False, tx_id,
                         s.source, now)
                        for s, m, p, record_id, tx_id in zip(services, minutes, priced, record_ids, tx_ids)]


def _histories(session: Session, volunteers: set[int], homes: list[tuple], priced: list[tuple]) -> dict:
    """The star histories of the batch's volunteers, when a policy's levels depend on time."""
    policies = [home[2] for home in homes]
    if not any(needs_history(policy) for policy in policies):
        return {}
    days = [p[DAY] for p in priced]
    first, last = min(days), max(days)
    span = (last.year - first.year) * 12 + last.month - first.month
    months = max(history_months(policy) for policy in policies) + span
    return star_histories(session, sorted(volunteers), last, months)


def _served(history: StarHistory, day: dt.date, credited: int) -> StarHistory:
    if credited <= 0 or (day.year, day.month) in history.served_months:
        return history
    return StarHistory(history.served_months | {(day.year, day.month)}, history.complaint_days)

