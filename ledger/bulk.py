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
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import Date, DateTime, bindparam, text
from sqlalchemy.orm import Session

from ledger import pricing
from ledger.access import Principal, in_scope, require_role
from ledger.accounts import KINDS, MINUTES, POINTS
from ledger.db import Base
from ledger.errors import Conflict, Forbidden, NotFound, UnknownVolunteer, ValidationFailed
from ledger.policy import Policy, ServiceFacts
from ledger.postings import Leg, add_year_minutes, check_balanced, content_hash
from ledger.service_records import check_times
from ledger.stars import star_level
from ledger.tables.core import utcnow

CHUNK = 5000  # ids per IN (...) list: under SQLite's limit on bound variables


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
    minutes = [_checked_minutes(i, s, principal, now_local) for i, s in enumerate(services)]
    facts = _Facts.load(session, principal, services)
    _refuse_overlaps(session, services)
    priced = _price_all(session, facts, services, minutes)
    wanted = []
    for s, p in zip(services, priced):
        wanted += [("volunteer_minutes", s.volunteer_id), ("unit_minutes_served", p.unit_id),
                   ("volunteer_points", s.volunteer_id), ("unit_points_issued", p.funding_unit_id)]
    accounts = _accounts(session, wanted)
    record_ids = _allocate_ids(session, "service_records", len(services))
    tx_ids = _allocate_ids(session, "transactions", len(services))
    plan = _Plan(principal.username, utcnow())
    plan.add_postings(services, priced, accounts, record_ids, tx_ids)
    plan.add_stars(session, facts, services, priced, accounts, tx_ids, record_ids)
    plan.add_records(services, minutes, priced, record_ids, tx_ids, principal)
    _write(session, plan)
    return BulkResult(records=len(services), transactions=len(plan.transactions),
                      postings=len(plan.postings), star_events=len(plan.star_events),
                      first_record_id=record_ids[0], last_record_id=record_ids[-1])


def _checked_minutes(index: int, service: ApprovedService, principal: Principal,
                     now_local: dt.datetime) -> int:
    if service.recorded_by == principal.user_id:
        raise Forbidden("a record is approved by someone other than the person who recorded it",
                        field="approved_by", row=index)
    try:
        return check_times(service.started_at, service.ended_at, service.minutes, now_local)
    except ValidationFailed as exc:
        exc.details = {**exc.details, "row": index}
        raise


def _chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _in(session: Session, sql: str, ids: Iterable[int], **params) -> list:
    """Run `sql` (with `:ids` for an IN list) over chunks of ids; all rows."""
    rows: list = []
    typed = [bindparam(name, value, type_=DateTime() if isinstance(value, dt.datetime) else
                       Date() if isinstance(value, dt.date) else None) for name, value in params.items()]
    for chunk in _chunks(sorted(set(ids))):
        marks = ",".join(str(int(i)) for i in chunk)  # integers only: safe to inline
        rows.extend(session.execute(text(sql.replace(":ids", marks)).bindparams(*typed)).all())
    return rows


class _Facts:
    """Everything a batch reads before it writes: activities, units, volunteers, policies."""

    def __init__(self) -> None:
        self.activities: dict[int, tuple] = {}  # id -> (unit_id, category, tags, title)
        self.paths: dict[int, str] = {}
        self.volunteers: dict[int, tuple] = {}  # id -> (home_unit_id, registered_on)
        self.versions: dict[int, list[tuple]] = defaultdict(list)  # unit -> [(from, version, id, doc)]
        self._in_force: dict[tuple[int, dt.date], tuple] = {}

    @classmethod
    def load(cls, session: Session, principal: Principal, services: Sequence[ApprovedService]) -> "_Facts":
        facts = cls()
        for row in _in(session, "SELECT id, unit_id, category, tags, title FROM activities "
                                "WHERE id IN (:ids)", (s.activity_id for s in services)):
            tags = row[3] if isinstance(row[3], list) else _json_list(row[3])
            facts.activities[row[0]] = (row[1], row[2], frozenset(tags or ()), row[4])
        for service in services:
            if service.activity_id not in facts.activities:
                raise NotFound(f"activity {service.activity_id} not found", field="activity_id")
        facts._load_volunteers(session, {s.volunteer_id for s in services})
        units = {a[0] for a in facts.activities.values()} | {v[0] for v in facts.volunteers.values()}
        for unit_id, path in _in(session, "SELECT id, path FROM units WHERE id IN (:ids)", units):
            facts.paths[unit_id] = path
        for unit_id, _c, _t, _title in facts.activities.values():
            if not in_scope(principal, facts.paths[unit_id]):
                raise NotFound(f"activity of unit {unit_id} not found", field="activity_id")
        every_ancestor = {a for u in units for a in facts.ancestors(u)}
        for row in _in(session, "SELECT unit_id, effective_from, version, id, document FROM policy_versions "
                                "WHERE unit_id IN (:ids)", every_ancestor):
            facts.versions[row[0]].append((_date(row[1]), row[2], row[3], row[4]))
        for versions in facts.versions.values():
            versions.sort(reverse=True)
        return facts

    def _load_volunteers(self, session: Session, ids: set[int]) -> None:
        lock = "" if session.get_bind().dialect.name == "sqlite" else " ORDER BY id FOR UPDATE"
        for row in _in(session, "SELECT id, home_unit_id, registered_on, status FROM volunteers "
                                "WHERE id IN (:ids)" + lock, ids):
            if row[3] != "active":
                raise Conflict("the volunteer has left this deployment", field="volunteer_id",
                               volunteer_id=row[0])
            self.volunteers[row[0]] = (row[1], _date(row[2]))
        missing = ids - set(self.volunteers)
        if missing:
            raise UnknownVolunteer(f"volunteer {min(missing)} not found", field="volunteer_id")

    def ancestors(self, unit_id: int) -> list[int]:
        """The unit and every unit above it, nearest first (as `pricing.ancestors`)."""
        return [int(part) for part in self.paths[unit_id].strip("/").split("/")][::-1]

    def policy_in_force(self, unit_id: int, on_date: dt.date) -> tuple[int | None, str, Policy]:
        """(version id, label, policy) in force for a unit on a date (as `pricing.policy_in_force`)."""
        key = (unit_id, on_date)
        found = self._in_force.get(key)
        if found is None:
            found = (None, "default", pricing.default_policy())
            for candidate in self.ancestors(unit_id):
                usable = [v for v in self.versions.get(candidate, ()) if v[0] <= on_date]
                if usable:
                    _from, version, version_id, document = usable[0]
                    found = (version_id, f"v{version}@unit{candidate}", pricing.parse_cached(document))
                    break
            self._in_force[key] = found
        return found


def _json_list(value) -> list:
    return json.loads(value) if value else []


def _date(value) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _refuse_overlaps(session: Session, services: Sequence[ApprovedService]) -> None:
    """Refuse a service overlapping another of the same volunteer, in the batch or stored."""
    lo = min(s.started_at for s in services)
    hi = max(s.ended_at for s in services)
    spans: dict[int, list[tuple]] = defaultdict(list)
    for row in _in(session, "SELECT volunteer_id, started_at, ended_at, id FROM service_records "
                            "WHERE volunteer_id IN (:ids) AND status IN ('pending','posted') "
                            "AND started_at < :hi AND ended_at > :lo",
                   {s.volunteer_id for s in services}, lo=lo, hi=hi):
        spans[row[0]].append((_datetime(row[1]), _datetime(row[2]), f"service record {row[3]}"))
    for index, s in enumerate(services):
        spans[s.volunteer_id].append((s.started_at, s.ended_at, index))
    for volunteer_id, items in spans.items():
        items.sort(key=lambda item: (item[0], item[1]))
        latest = items[0]
        for item in items[1:]:
            if item[0] < latest[1] and (isinstance(item[2], int) or isinstance(latest[2], int)):
                row = item[2] if isinstance(item[2], int) else latest[2]
                raise Conflict(f"row {row}: overlaps {latest[2] if row == item[2] else item[2]} of "
                               f"volunteer {volunteer_id}", field="started_at", row=row)
            if item[1] > latest[1]:
                latest = item


def _datetime(value) -> dt.datetime:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _accounts(session: Session, wanted: list[tuple[str, int]]) -> dict:
    """(kind, owner) -> [account id, balance], opening missing accounts in first-use order."""
    found = _read_accounts(session, wanted)
    missing = list(dict.fromkeys(k for k in wanted if k not in found))
    if missing:
        now = utcnow()
        rows = [dict(kind=kind, owner_id=owner, uom=KINDS[kind][0], is_non_negative=not KINDS[kind][1],
                     balance=0, created_at=now) for kind, owner in missing]
        session.execute(text("INSERT INTO accounts (kind, owner_id, uom, is_non_negative, balance, created_at) "
                             "VALUES (:kind, :owner_id, :uom, :is_non_negative, :balance, :created_at) "
                             "ON CONFLICT (kind, owner_id) DO NOTHING"), rows)
        found.update(_read_accounts(session, missing))
    return found


def _read_accounts(session: Session, keys: list[tuple[str, int]]) -> dict:
    by_kind: dict[str, set[int]] = defaultdict(set)
    for kind, owner in keys:
        by_kind[kind].add(owner)
    found = {}
    for kind, owners in by_kind.items():
        for account, owner, value in _in(session, "SELECT id, owner_id, balance FROM accounts "
                                                  "WHERE kind = :kind AND owner_id IN (:ids)", owners, kind=kind):
            found[(kind, owner)] = [account, int(value)]
    return found


def _allocate_ids(session: Session, table: str, count: int) -> list[int]:
    """`count` fresh ids of `table`, ascending (a sequence on PostgreSQL, max+1 on SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE holds SQLite's write lock: nobody else can take these ids
        top = session.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
        return list(range(top + 1, top + 1 + count))
    return sorted(session.execute(text(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
        {"n": count}).scalars())


@dataclass(frozen=True)
class _Priced:
    unit_id: int
    service_date: dt.date
    policy_version_id: int | None
    credited_minutes: int
    points: int
    funding_unit_id: int
    memo: str


def _price_all(session: Session, facts: _Facts, services: Sequence[ApprovedService],
               minutes: list[int]) -> list[_Priced]:
    """Price each record as `pricing.price_record` would, caps counting the records before it."""
    day_credited, year_credited = _credited_before(session, services)
    cache: dict[tuple, tuple] = {}
    day_tags: dict[tuple, frozenset] = {}
    out = []
    for service, wanted in zip(services, minutes):
        unit_id, category, tags, title = facts.activities[service.activity_id]
        day = service.started_at.date()
        version_id, label, policy = facts.policy_in_force(unit_id, day)
        day_key, year_key = (service.volunteer_id, day), (service.volunteer_id, day.year)
        capped = _capped(policy, wanted, day_credited[day_key], year_credited[year_key])
        date_tags = day_tags.get((id(policy), day))
        if date_tags is None:
            date_tags = day_tags[(id(policy), day)] = policy.date_tags_on(day)
        # The price depends on the date only through its date tags, and on the minutes
        # credited before only through the caps: pricing `capped` minutes with nothing
        # credited before, on any day with the same date tags, gives the same minutes,
        # points and multiplier.  So a batch prices a few hundred distinct cases, not every record.
        key = (id(policy), capped, date_tags, category, tags, service.service_kind)
        found = cache.get(key)
        if found is None:
            result = policy.price(ServiceFacts(minutes=capped, service_date=day, category=category,
                                               tags=tags, service_kind=service.service_kind))
            found = cache[key] = (result.credited_minutes, result.points, result.multiplier)
        credited, points, multiplier = found
        day_credited[day_key] += credited
        year_credited[year_key] += credited
        home_unit_id = facts.volunteers[service.volunteer_id][0]
        funding = home_unit_id if policy.funding == "unit" else facts.ancestors(unit_id)[-1]
        memo = f"{title}: {credited} min, {points} pts (policy {label}, x{multiplier})"
        out.append(_Priced(unit_id, day, version_id, credited, points, funding, memo))
    return out


def _capped(policy: Policy, minutes: int, same_day: int, same_year: int) -> int:
    caps = policy.caps
    if caps.per_day_minutes is not None:
        minutes = min(minutes, max(0, caps.per_day_minutes - same_day))
    if caps.per_year_minutes is not None:
        minutes = min(minutes, max(0, caps.per_year_minutes - same_year))
    return minutes


def _credited_before(session: Session, services: Sequence[ApprovedService]) -> tuple[dict, dict]:
    """Minutes already credited per (volunteer, day) and (volunteer, year), by service start."""
    years = {s.started_at.year for s in services}
    lo, hi = dt.datetime(min(years), 1, 1), dt.datetime(max(years) + 1, 1, 1)
    day_credited: dict = defaultdict(int)
    year_credited: dict = defaultdict(int)
    for volunteer_id, started_at, amount in _in(session, """
            SELECT sr.volunteer_id, sr.started_at, p.amount FROM service_records sr
            JOIN transactions t ON t.service_record_id = sr.id AND t.kind = 'service'
            JOIN postings p ON p.transaction_id = t.id
            JOIN accounts a ON a.id = p.account_id AND a.kind = 'volunteer_minutes'
            WHERE sr.volunteer_id IN (:ids) AND sr.status = 'posted'
              AND sr.started_at >= :lo AND sr.started_at < :hi""",
                                                {s.volunteer_id for s in services}, lo=lo, hi=hi):
        started_at = _datetime(started_at)
        day_credited[(volunteer_id, started_at.date())] += int(amount)
        year_credited[(volunteer_id, started_at.year)] += int(amount)
    return day_credited, year_credited


class _Plan:
    """The rows a batch writes, built in memory before one round of COPY / executemany."""

    def __init__(self, actor: str, now: dt.datetime) -> None:
        self.actor, self.now = actor, now
        self.records: list[tuple] = []
        self.transactions: list[tuple] = []
        self.postings: list[tuple] = []
        self.deltas: dict[int, int] = defaultdict(int)
        self.year_minutes: dict[tuple[int, int], int] = defaultdict(int)  # (volunteer, year) -> minutes
        self.star_events: list[tuple] = []

    def add_postings(self, services, priced, accounts, record_ids, tx_ids) -> None:
        """Transactions with their postings and hashes, exactly as `post_record` makes them."""
        for service, p, record_id, tx_id in zip(services, priced, record_ids, tx_ids):
            volunteer_id = service.volunteer_id
            legs = [leg for leg in (
                Leg(accounts[("volunteer_minutes", volunteer_id)][0], MINUTES, p.credited_minutes,
                    volunteer_id, p.unit_id),
                Leg(accounts[("unit_minutes_served", p.unit_id)][0], MINUTES, -p.credited_minutes,
                    volunteer_id, p.unit_id),
                Leg(accounts[("volunteer_points", volunteer_id)][0], POINTS, p.points, volunteer_id,
                    p.unit_id),
                Leg(accounts[("unit_points_issued", p.funding_unit_id)][0], POINTS, -p.points,
                    volunteer_id, p.funding_unit_id),
            ) if leg.amount != 0]
            check_balanced(legs)
            key = f"service:{record_id}"
            tx = dict(kind="service", idempotency_key=key, occurred_on=p.service_date, actor=self.actor,
                      volunteer_id=volunteer_id, unit_id=p.unit_id, policy_version_id=p.policy_version_id,
                      reverses_id=None, service_record_id=record_id, memo=p.memo)
            self.transactions.append((tx_id, "service", key, p.service_date, self.now, self.actor,
                                      volunteer_id, p.unit_id, p.policy_version_id, None, record_id,
                                      p.memo, content_hash(tx, legs)))
            for leg in legs:
                self.postings.append((tx_id, leg.account_id, leg.uom, leg.amount, leg.volunteer_id,
                                      leg.unit_id, p.service_date))
                self.deltas[leg.account_id] += leg.amount
            self.year_minutes[(volunteer_id, p.service_date.year)] += p.credited_minutes

    def add_stars(self, session, facts, services, priced, accounts, tx_ids, record_ids) -> None:
        """Star events where the hours now give another level (as `pricing.update_star_level`)."""
        volunteers = {s.volunteer_id for s in services}
        level = _last_levels(session, volunteers)
        total = {v: accounts[("volunteer_minutes", v)][1] for v in volunteers}
        homes = [facts.policy_in_force(facts.volunteers[s.volunteer_id][0], p.service_date)
                 for s, p in zip(services, priced)]
        by_year = (_minutes_by_year(session, services)
                   if any(h[2].star_basis != "cumulative_hours" for h in homes) else defaultdict(int))
        for service, p, home, tx_id, record_id in zip(services, priced, homes, tx_ids, record_ids):
            v = service.volunteer_id
            total[v] += p.credited_minutes
            by_year[(v, p.service_date.year)] += p.credited_minutes
            version_id, _label, policy = home
            after = star_level(policy, total[v], by_year[(v, p.service_date.year)],
                               facts.volunteers[v][1], p.service_date)
            if after != level.get(v, 0):
                self.star_events.append((v, p.service_date, level.get(v, 0), after, tx_id, version_id,
                                         f"service record {record_id}", self.now))
                level[v] = after

    def add_records(self, services, minutes, priced, record_ids, tx_ids, principal) -> None:
        """The service records themselves, already approved and posted."""
        for s, m, p, record_id, tx_id in zip(services, minutes, priced, record_ids, tx_ids):
            self.records.append((record_id, s.volunteer_id, s.activity_id, p.unit_id, s.started_at,
                                 s.ended_at, m, s.service_kind, s.recorded_by, s.confirmed_by, "posted",
                                 principal.user_id, self.now, False, tx_id, s.source, self.now))


def _last_levels(session: Session, volunteers: set[int]) -> dict[int, int]:
    return {v: int(level) for v, level in _in(session, """
        SELECT volunteer_id, level_after FROM star_events WHERE id IN (
            SELECT MAX(id) FROM star_events WHERE volunteer_id IN (:ids) GROUP BY volunteer_id)""",
                                              volunteers)}


def _minutes_by_year(session: Session, services: Sequence[ApprovedService]) -> dict:
    """Minutes on each volunteer's hours account per calendar year (as `pricing.minutes_in_year`)."""
    found: dict = defaultdict(int)
    years = ",".join(str(int(year)) for year in {s.started_at.year for s in services})
    for owner, year, total in _in(session, "SELECT volunteer_id, year, minutes FROM volunteer_year_minutes "
                                           f"WHERE volunteer_id IN (:ids) AND year IN ({years})",
                                  {s.volunteer_id for s in services}):
        found[(owner, year)] = int(total)
    return found


RECORD_COLUMNS = ("id", "volunteer_id", "activity_id", "unit_id", "started_at", "ended_at", "minutes",
                  "service_kind", "recorded_by", "confirmed_by", "status", "approved_by", "decided_at",
                  "complaint_upheld", "transaction_id", "source", "created_at")
TX_COLUMNS = ("id", "kind", "idempotency_key", "occurred_on", "recorded_at", "actor", "volunteer_id",
              "unit_id", "policy_version_id", "reverses_id", "service_record_id", "memo", "content_hash")
POSTING_COLUMNS = ("transaction_id", "account_id", "uom", "amount", "volunteer_id", "unit_id", "occurred_on")
STAR_COLUMNS = ("volunteer_id", "occurred_on", "level_before", "level_after", "transaction_id",
                "policy_version_id", "reason", "created_at")


def _write(session: Session, plan: _Plan) -> None:
    """Write the plan: records, transactions, postings, star events, then balances."""
    copy_rows(session, "service_records", RECORD_COLUMNS, plan.records)
    copy_rows(session, "transactions", TX_COLUMNS, plan.transactions)
    copy_rows(session, "postings", POSTING_COLUMNS, plan.postings)
    copy_rows(session, "star_events", STAR_COLUMNS, plan.star_events)
    items = sorted((account, amount) for account, amount in plan.deltas.items() if amount)
    if not items:
        return
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE accounts SET balance = balance + :amount WHERE id = :id"),
                        [{"id": account, "amount": amount} for account, amount in items])
        add_year_minutes(session, plan.year_minutes)
        return
    # Lock the rows in account order first (an UPDATE ... FROM takes them in whatever order
    # its join runs, which deadlocks two batches sharing unit accounts), then one UPDATE.
    session.execute(text("SELECT id FROM accounts WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id "
                         "FOR NO KEY UPDATE"), {"ids": [a for a, _ in items]})
    session.execute(text("UPDATE accounts SET balance = accounts.balance + d.amount "
                         "FROM unnest(CAST(:ids AS bigint[]), CAST(:amounts AS bigint[])) AS d(id, amount) "
                         "WHERE accounts.id = d.id"),
                    {"ids": [a for a, _ in items], "amounts": [m for _, m in items]})
    add_year_minutes(session, plan.year_minutes)  # after the balances: the same order as `post`


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Append many rows to a table: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if session.get_bind().dialect.name == "sqlite":
        # through SQLAlchemy, which stores dates and times the way it reads them back
        session.execute(Base.metadata.tables[table].insert(), [dict(zip(columns, row)) for row in rows])
        return
    with session.connection().connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
