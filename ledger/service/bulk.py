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
where the database role may set `session_replication_role` and no trigger fires on INSERT
into the tables written, its COPYs run with the per-row checks off (`SET LOCAL`, for those
statements only, then back); else they run checked.  The constraints stay in the schema
for every other writer, and the append-only triggers (UPDATE, DELETE) are untouched.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import Date, DateTime, bindparam, text
from sqlalchemy.orm import Session

from ledger.book.accounts import KINDS, MINUTES, POINTS
from ledger.book.hashing import canonical_text, digest_of
from ledger.book.postings import add_year_minutes
from ledger.errors import Conflict, Forbidden, NotFound, UnknownVolunteer, ValidationFailed
from ledger.incentives import pricing
from ledger.incentives.policy import Policy, ServiceFacts
from ledger.incentives.stars import star_level
from ledger.people.access import Principal, in_scope, require_role
from ledger.service.records import check_times
from ledger.store.db import Base
from ledger.store.partitions import prepare_months
from ledger.store.tables import utcnow

CHUNK = 5000  # ids per IN (...) list: under SQLite's limit on bound variables
WRITTEN = ("service_records", "transactions", "transaction_keys", "postings", "star_events")


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
    facts = _Facts.load(session, principal, services, lock=by_batch)
    _refuse_overlaps(session, services)
    priced = _price_all(session, facts, services, minutes)
    accounts = _accounts(session, services, priced)
    record_ids = _allocate_ids(session, "service_records", len(services))
    tx_ids = _allocate_ids(session, "transactions", len(services))
    plan = _Plan(principal.username, utcnow())
    plan.add_postings(services, priced, accounts, record_ids, tx_ids)
    plan.add_stars(session, facts, services, priced, accounts, tx_ids, record_ids)
    plan.add_records(services, minutes, priced, record_ids, tx_ids, principal)
    _write(session, plan, by_batch)
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


def keys_checked_by_batch(session: Session) -> bool:
    """May this PostgreSQL transaction write its COPYs without the per-row foreign key checks?

    Yes when the role may set `session_replication_role` (a superuser, or `GRANT SET ON
    PARAMETER session_replication_role`, PostgreSQL 15+), the setting is the ordinary one,
    and no trigger fires on INSERT into the tables the batch writes (or their partitions):
    turning the setting off would skip such a trigger, so then the batch writes checked.
    """
    return bool(session.execute(text("""
        SELECT current_setting('session_replication_role') = 'origin'
           AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                OR (current_setting('server_version_num')::int >= 150000
                    AND has_parameter_privilege('session_replication_role', 'SET')))
           AND NOT EXISTS (
                SELECT 1 FROM pg_trigger
                WHERE NOT tgisinternal AND tgenabled <> 'D' AND (tgtype & 4) <> 0
                  AND tgrelid IN (SELECT CAST(t AS regclass) FROM unnest(CAST(:tables AS text[])) AS t
                                  UNION ALL SELECT p.relid FROM unnest(CAST(:tables AS text[])) AS t,
                                                                pg_partition_tree(CAST(t AS regclass)) AS p))
    """), {"tables": list(WRITTEN)}).scalar())


def _chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _in(session: Session, sql: str, ids: Iterable[int], **params) -> list:
    """Run `sql` (with `IN (:ids)` for a list of integers) over the ids; all rows, as tuples.

    PostgreSQL: one statement, the ids as one array, on the driver's cursor (thousands of
    rows without SQLAlchemy's per-row work).  SQLite: chunks under its limit on variables.
    """
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # integer[] as the columns are: a bigint[] against an integer column is searched
        # element by element for each row (no hashed lookup for the cross-type operator)
        query = sql.replace("IN (:ids)", "= ANY(CAST(%(ids)s AS integer[]))")
        for name in params:
            query = query.replace(f":{name}", f"%({name})s")
        with _cursor(session) as cursor:
            cursor.execute(query, {**params, "ids": _array(ids)})
            return cursor.fetchall()
    rows: list = []
    typed = [bindparam(name, value, type_=DateTime() if isinstance(value, dt.datetime) else
                       Date() if isinstance(value, dt.date) else None) for name, value in params.items()]
    for chunk in _chunks(ids):
        marks = ",".join(str(i) for i in chunk)  # integers only: safe to inline
        rows.extend(session.execute(text(sql.replace(":ids", marks)).bindparams(*typed)).all())
    return rows


def _cursor(session: Session):
    """A cursor of the driver's connection, in the session's transaction (PostgreSQL)."""
    return session.connection().connection.driver_connection.cursor()


def _array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers ('{1,2,3}'): cheaper to send than a list."""
    return "{" + ",".join(map(str, values)) + "}"


class _Facts:
    """Everything a batch reads before it writes: activities, units, volunteers, policies, users."""

    def __init__(self) -> None:
        self.activities: dict[int, tuple] = {}  # id -> (unit_id, category, tags, title)
        self.paths: dict[int, str] = {}
        self.volunteers: dict[int, tuple] = {}  # id -> (home_unit_id, registered_on)
        self.versions: dict[int, list[tuple]] = defaultdict(list)  # unit -> [(from, version, id, doc)]
        self._in_force: dict[tuple[int, dt.date], tuple] = {}
        self._ancestors: dict[int, list[int]] = {}
        self._homes: dict[int, list[tuple]] | None = None  # volunteer -> [(from, to, unit)], newest first
        self._home_on: dict[tuple[int, dt.date], int] = {}

    @classmethod
    def load(cls, session: Session, principal: Principal, services: Sequence[ApprovedService],
             lock: bool = False) -> "_Facts":
        """Read what the batch refers to; `lock`: hold each row as a foreign key check would."""
        share = " FOR KEY SHARE" if lock else ""
        facts = cls()
        for row in _in(session, "SELECT id, unit_id, category, tags, title FROM activities "
                                "WHERE id IN (:ids)" + share, {s.activity_id for s in services}):
            tags = row[3] if isinstance(row[3], list) else _json_list(row[3])
            facts.activities[row[0]] = (row[1], row[2], frozenset(tags or ()), row[4])
        for service in services:
            if service.activity_id not in facts.activities:
                raise NotFound(f"activity {service.activity_id} not found", field="activity_id")
        users = {s.recorded_by for s in services} | {principal.user_id}
        found = {row[0] for row in _in(session, "SELECT id FROM users WHERE id IN (:ids)" + share, users)}
        for service in services:
            if service.recorded_by not in found:
                raise NotFound(f"user {service.recorded_by} not found", field="recorded_by")
        if principal.user_id not in found:
            raise NotFound(f"user {principal.user_id} not found", field="approved_by")
        facts._load_volunteers(session, {s.volunteer_id for s in services})
        units = {a[0] for a in facts.activities.values()} | {v[0] for v in facts.volunteers.values()}
        for unit_id, path in _in(session, "SELECT id, path FROM units WHERE id IN (:ids)" + share, units):
            facts.paths[unit_id] = path
        for unit_id, _c, _t, _title in facts.activities.values():
            if not in_scope(principal, facts.paths[unit_id]):
                raise NotFound(f"activity of unit {unit_id} not found", field="activity_id")
        every_ancestor = {a for u in units for a in facts.ancestors(u)}
        for row in _in(session, "SELECT unit_id, effective_from, version, id, document FROM policy_versions "
                                "WHERE unit_id IN (:ids)" + share, every_ancestor):
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

    def home_unit_on(self, session: Session, volunteer_id: int, on_date: dt.date) -> int:
        """The volunteer's home unit on a date, else the current one (as `pricing.home_unit_on`)."""
        found = self._home_on.get((volunteer_id, on_date))
        if found is not None:
            return found
        if self._homes is None:  # read once, and only when a policy funds points by home unit
            self._homes = defaultdict(list)
            for volunteer, unit, valid_from, valid_to in _in(
                    session, "SELECT volunteer_id, unit_id, valid_from, valid_to FROM memberships "
                             "WHERE volunteer_id IN (:ids) AND is_home", self.volunteers):
                self._homes[volunteer].append((_date(valid_from), _date(valid_to) if valid_to else None, unit))
            for periods in self._homes.values():
                periods.sort(key=lambda period: period[0], reverse=True)
        found = self.volunteers[volunteer_id][0]
        for valid_from, valid_to, unit in self._homes.get(volunteer_id, ()):
            if valid_from <= on_date and (valid_to is None or valid_to > on_date):
                found = unit
                break
        self._home_on[(volunteer_id, on_date)] = found
        return found

    def ancestors(self, unit_id: int) -> list[int]:
        """The unit and every unit above it, nearest first (as `pricing.ancestors`)."""
        found = self._ancestors.get(unit_id)
        if found is None:
            found = self._ancestors[unit_id] = [int(p) for p in self.paths[unit_id].strip("/").split("/")][::-1]
        return found

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
        if len(items) == 1:
            continue
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


# A priced record, as a tuple (thousands a batch): these are its fields' positions.
UNIT, DAY, VERSION, CREDITED, POINTS_, FUNDING, MEMO = range(7)


class _Accounts:
    """The batch's accounts: id per owner for each of the four kinds, and balances before it."""

    def __init__(self, found: dict) -> None:
        self.ids: dict[str, dict[int, int]] = defaultdict(dict)
        self.balances: dict[str, dict[int, int]] = defaultdict(dict)
        for (kind, owner), (account, balance) in found.items():
            self.ids[kind][owner] = account
            self.balances[kind][owner] = balance


def _accounts(session: Session, services: Sequence[ApprovedService], priced: list[tuple]) -> _Accounts:
    """The accounts the batch posts to, opening missing ones in first-use order (as one by one)."""
    volunteers = {s.volunteer_id for s in services}
    by_kind = {"volunteer_minutes": volunteers, "unit_minutes_served": {p[UNIT] for p in priced},
               "volunteer_points": volunteers, "unit_points_issued": {p[FUNDING] for p in priced}}
    found = _read_accounts(session, ((kind, owner) for kind, owners in by_kind.items() for owner in owners))
    missing = []
    if len(found) < sum(len(owners) for owners in by_kind.values()):
        wanted: dict[tuple[str, int], None] = {}  # first use: the order one by one opens them in
        for s, p in zip(services, priced):
            wanted[("volunteer_minutes", s.volunteer_id)] = None
            wanted[("unit_minutes_served", p[UNIT])] = None
            wanted[("volunteer_points", s.volunteer_id)] = None
            wanted[("unit_points_issued", p[FUNDING])] = None
        missing = [k for k in wanted if k not in found]
    if missing:
        now = utcnow()
        if session.get_bind().dialect.name == "postgresql":
            # one statement; rows taken in order, so ids go in first-use order as one by one
            session.execute(text(
                "INSERT INTO accounts (kind, owner_id, uom, is_non_negative, balance, created_at) "
                "SELECT k, o, u, n, 0, :now FROM unnest(CAST(:kinds AS varchar[]), CAST(:owners AS integer[]), "
                "CAST(:uoms AS varchar[]), CAST(:nonneg AS boolean[])) WITH ORDINALITY AS m(k, o, u, n, i) "
                "ORDER BY i ON CONFLICT (kind, owner_id) DO NOTHING"),
                {"now": now, "kinds": [k for k, _ in missing], "owners": [o for _, o in missing],
                 "uoms": [KINDS[k][0] for k, _ in missing], "nonneg": [not KINDS[k][1] for k, _ in missing]})
        else:
            rows = [dict(kind=kind, owner_id=owner, uom=KINDS[kind][0], is_non_negative=not KINDS[kind][1],
                         balance=0, created_at=now) for kind, owner in missing]
            session.execute(text("INSERT INTO accounts (kind, owner_id, uom, is_non_negative, balance, "
                                 "created_at) VALUES (:kind, :owner_id, :uom, :is_non_negative, :balance, "
                                 ":created_at) ON CONFLICT (kind, owner_id) DO NOTHING"), rows)
        found.update(_read_accounts(session, missing))
    return _Accounts(found)


def _read_accounts(session: Session, keys: Iterable[tuple[str, int]]) -> dict:
    by_kind: dict[str, set[int]] = defaultdict(set)
    for kind, owner in keys:
        by_kind[kind].add(owner)
    found = {}
    for kind, owners in by_kind.items():
        for account, owner, value in _in(session, "SELECT id, owner_id, balance FROM accounts "
                                                  "WHERE kind = :kind AND owner_id IN (:ids)", owners, kind=kind):
            found[(kind, owner)] = (account, int(value))
    return found


def _allocate_ids(session: Session, table: str, count: int) -> list[int]:
    """`count` fresh ids of `table`, ascending (a sequence on PostgreSQL, max+1 on SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE holds SQLite's write lock: nobody else can take these ids
        top = session.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
        return list(range(top + 1, top + 1 + count))
    sequence = session.execute(text(f"SELECT pg_get_serial_sequence('{table}', 'id')")).scalar_one()
    ids = session.execute(text("SELECT string_agg(nextval(CAST(:seq AS regclass))::text, ',') "
                               "FROM generate_series(1, :n)"), {"seq": sequence, "n": count}).scalar_one()
    return sorted(map(int, ids.split(",")))


def _price_all(session: Session, facts: _Facts, services: Sequence[ApprovedService],
               minutes: list[int]) -> list[tuple]:
    """Price each record as `pricing.price_record` would, caps counting the records before it.

    Returns (unit, service date, policy version id, credited minutes, points, funding unit,
    memo) per record.
    """
    prices: dict[tuple, tuple] = {}
    day_tags: dict[tuple, frozenset] = {}
    settings: dict[tuple, tuple] = {}  # (activity, day) -> what pricing needs of both
    priced: dict[tuple, tuple] = {}  # (activity, day, capped minutes, kind) -> (credited, points, memo)
    days, setting_of = [], []
    for service in services:
        day = service.started_at.date()
        setting = settings.get((service.activity_id, day))
        if setting is None:
            unit_id, category, tags, title = facts.activities[service.activity_id]
            version_id, label, policy = facts.policy_in_force(unit_id, day)
            tags_key = (id(policy), day)
            if tags_key not in day_tags:
                day_tags[tags_key] = policy.date_tags_on(day)
            setting = settings[(service.activity_id, day)] = (
                unit_id, version_id, policy, policy.caps.per_day_minutes, policy.caps.per_year_minutes,
                None if policy.funding == "unit" else facts.ancestors(unit_id)[-1],
                (id(policy), day_tags[tags_key], category, tags), title, label)
        days.append(day)
        setting_of.append(setting)
    day_credited, year_credited = _credited_before(session, services, minutes, days, setting_of)
    out = []
    for service, wanted, day, setting in zip(services, minutes, days, setting_of):
        unit_id, version_id, policy, per_day, per_year, county, price_key, title, label = setting
        volunteer_id = service.volunteer_id
        day_key, year_key = (volunteer_id, day), (volunteer_id, day.year)
        capped = wanted  # as `_capped`
        if per_day is not None:
            capped = min(capped, max(0, per_day - day_credited[day_key]))
        if per_year is not None:
            capped = min(capped, max(0, per_year - year_credited[year_key]))
        found = priced.get((service.activity_id, day, capped, service.service_kind))
        if found is None:
            # The price depends on the date only through its date tags, and on the minutes
            # credited before only through the caps: pricing `capped` minutes with nothing
            # credited before, on any day with the same date tags, gives the same minutes,
            # points and multiplier.  So a batch prices a few hundred distinct cases, not every record.
            key = price_key + (capped, service.service_kind)
            result = prices.get(key)
            if result is None:
                pricing_ = policy.price(ServiceFacts(minutes=capped, service_date=day, category=price_key[2],
                                                     tags=price_key[3], service_kind=service.service_kind))
                result = prices[key] = (pricing_.credited_minutes, pricing_.points, pricing_.multiplier)
            credited, points, multiplier = result
            found = priced[(service.activity_id, day, capped, service.service_kind)] = (
                credited, points, f"{title}: {credited} min, {points} pts (policy {label}, x{multiplier})")
        credited, points, memo = found
        if credited:
            day_credited[day_key] += credited
            year_credited[year_key] += credited
        funding = facts.home_unit_on(session, volunteer_id, day) if county is None else county
        out.append((unit_id, day, version_id, credited, points, funding, memo))
    return out


def _credited_before(session: Session, services: Sequence[ApprovedService], minutes: list[int],
                     days: list[dt.date], setting_of: list[tuple]) -> tuple[dict, dict]:
    """Minutes already credited per (volunteer, day) and (volunteer, year), by service start.

    Exact where a cap may bind; elsewhere a bound that gives the same prices.  A posted
    record never credited more than its minutes, so the minutes of the volunteer's posted
    records bound what they credited.  A volunteer none of whose records in the batch can
    meet a cap even at those bounds, counting every record before it at its full minutes,
    is priced the same with the bound as with the exact figure (caps only ever take the
    minimum): only the other volunteers need the exact sums, which join the postings.
    """
    years = {day.year for day in days}
    lo, hi = dt.datetime(min(years), 1, 1), dt.datetime(max(years) + 1, 1, 1)
    volunteers = {s.volunteer_id for s in services}
    on_day = "CAST(started_at AS date)" if session.get_bind().dialect.name == "postgresql" else "date(started_at)"
    day_credited: dict = defaultdict(int)
    year_credited: dict = defaultdict(int)
    for volunteer_id, day, total in _in(session, f"""
            SELECT volunteer_id, {on_day}, SUM(minutes) FROM service_records
            WHERE volunteer_id IN (:ids) AND status = 'posted' AND started_at >= :lo AND started_at < :hi
            GROUP BY volunteer_id, {on_day}""", volunteers, lo=lo, hi=hi):
        day = _date(day)
        day_credited[(volunteer_id, day)] += int(total)
        year_credited[(volunteer_id, day.year)] += int(total)
    day_bound, year_bound = defaultdict(int, day_credited), defaultdict(int, year_credited)
    risky = set()
    for service, wanted, day, setting in zip(services, minutes, days, setting_of):
        day_key, year_key = (service.volunteer_id, day), (service.volunteer_id, day.year)
        per_day, per_year = setting[3], setting[4]
        if ((per_day is not None and day_bound[day_key] + wanted > per_day)
                or (per_year is not None and year_bound[year_key] + wanted > per_year)):
            risky.add(service.volunteer_id)
        day_bound[day_key] += wanted
        year_bound[year_key] += wanted
    if not risky:
        return day_credited, year_credited
    day_credited = defaultdict(int, {k: v for k, v in day_credited.items() if k[0] not in risky})
    year_credited = defaultdict(int, {k: v for k, v in year_credited.items() if k[0] not in risky})
    # a posted record names its service transaction, dated on its service day (as the caps
    # query of `pricing.credited_minutes_day_and_year` reads it: no join to transactions)
    for volunteer_id, started_at, amount in _in(session, """
            SELECT sr.volunteer_id, sr.started_at, p.amount FROM service_records sr
            JOIN postings p ON p.transaction_id = sr.transaction_id
            JOIN accounts a ON a.id = p.account_id AND a.kind = 'volunteer_minutes'
            WHERE sr.volunteer_id IN (:ids) AND sr.status = 'posted'
              AND sr.started_at >= :lo AND sr.started_at < :hi
              AND p.occurred_on >= :year_first AND p.occurred_on < :year_next""",
            risky, lo=lo, hi=hi, year_first=lo.date(), year_next=hi.date()):
        started_at = _datetime(started_at)
        day_credited[(volunteer_id, started_at.date())] += int(amount)
        year_credited[(volunteer_id, started_at.year)] += int(amount)
    return day_credited, year_credited


def service_hash(actor_json: str, record_id: int, occurred_on: str, memo_json: str, policy_version_id: int | None,
                 legs: list[tuple], volunteer_id: int, unit_id: int) -> str:
    """The content hash of a service transaction (`hashing.canonical_text`, strings already in JSON)."""
    return digest_of(canonical_text(
        kind_json='"service"', key_json=f'"service:{record_id}"', actor_json=actor_json, memo_json=memo_json,
        occurred_on_json=f'"{occurred_on}"', policy_version_id=policy_version_id, reverses_id=None,
        service_record_id=record_id, unit_id=unit_id, volunteer_id=volunteer_id, legs=legs))


class _Plan:
    """The rows a batch writes, built in memory before one round of COPY / executemany."""

    def __init__(self, actor: str, now: dt.datetime) -> None:
        self.actor, self.now = actor, now
        self.records: list[tuple] = []
        self.transactions: list[tuple] = []
        self.keys: list[tuple] = []  # transaction_keys: one row per transaction
        self.postings: list[tuple] = []
        self.deltas: dict[int, int] = defaultdict(int)
        self.counter_accounts: set[int] = set()  # units' accounts posted to (shared with other writers)
        self.year_minutes: dict[tuple[int, int], int] = defaultdict(int)  # (volunteer, year) -> minutes
        self.star_events: list[tuple] = []

    def add_postings(self, services, priced, accounts: _Accounts, record_ids, tx_ids) -> None:
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
            digest = service_hash(actor_json, record_id, day_iso, m_json, version_id, legs, volunteer_id, unit_id)
            add_transaction((tx_id, "service", f"service:{record_id}", day, now, actor, volunteer_id,
                             unit_id, version_id, None, record_id, memo, digest))
            add_key((tx_id, f"service:{record_id}", day, None))
            for account, uom, amount, leg_volunteer, leg_unit in legs:
                add_posting((tx_id, account, uom, amount, leg_volunteer, leg_unit, day))
                deltas[account] += amount
            year_minutes[(volunteer_id, day.year)] += credited
        self.counter_accounts.update(u_served[u] for u in u_served)
        self.counter_accounts.update(u_issued[u] for u in u_issued)

    def add_stars(self, session, facts, services, priced, accounts: _Accounts, tx_ids, record_ids) -> None:
        """Star events where the hours now give another level (as `pricing.update_star_level`)."""
        volunteers = {s.volunteer_id for s in services}
        level = _last_levels(session, volunteers)
        balances = accounts.balances["volunteer_minutes"]
        total = {v: balances[v] for v in volunteers}
        homes = [facts.policy_in_force(facts.volunteers[s.volunteer_id][0], p[DAY])
                 for s, p in zip(services, priced)]
        by_year = (_minutes_by_year(session, services)
                   if any(h[2].star_basis != "cumulative_hours" for h in homes) else defaultdict(int))
        for service, p, home, tx_id, record_id in zip(services, priced, homes, tx_ids, record_ids):
            v = service.volunteer_id
            day, credited = p[DAY], p[CREDITED]
            total[v] += credited
            by_year[(v, day.year)] += credited
            version_id, _label, policy = home
            after = star_level(policy, total[v], by_year[(v, day.year)], facts.volunteers[v][1], day)
            if after != level.get(v, 0):
                self.star_events.append((v, day, level.get(v, 0), after, tx_id, version_id,
                                         f"service record {record_id}", self.now))
                level[v] = after

    def add_records(self, services, minutes, priced, record_ids, tx_ids, principal) -> None:
        """The service records themselves, already approved and posted."""
        now, approver = self.now, principal.user_id
        self.records = [(record_id, s.volunteer_id, s.activity_id, p[UNIT], s.started_at, s.ended_at, m,
                         s.service_kind, s.recorded_by, s.confirmed_by, "posted", approver, now, False, tx_id,
                         s.source, now)
                        for s, m, p, record_id, tx_id in zip(services, minutes, priced, record_ids, tx_ids)]


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
KEY_COLUMNS = ("transaction_id", "idempotency_key", "occurred_on", "reverses_id")
POSTING_COLUMNS = ("transaction_id", "account_id", "uom", "amount", "volunteer_id", "unit_id", "occurred_on")
STAR_COLUMNS = ("volunteer_id", "occurred_on", "level_before", "level_after", "transaction_id",
                "policy_version_id", "reason", "created_at")


def _write(session: Session, plan: _Plan, by_batch: bool = False) -> None:
    """Write the plan: records, transactions, postings, star events, then balances."""
    tables = (("service_records", RECORD_COLUMNS, plan.records), ("transactions", TX_COLUMNS, plan.transactions),
              ("transaction_keys", KEY_COLUMNS, plan.keys), ("postings", POSTING_COLUMNS, plan.postings),
              ("star_events", STAR_COLUMNS, plan.star_events))
    items = sorted((account, amount) for account, amount in plan.deltas.items() if amount)
    if session.get_bind().dialect.name == "sqlite":
        for table, columns, rows in tables:
            copy_rows(session, table, columns, rows)
        if items:
            session.execute(text("UPDATE accounts SET balance = balance + :amount WHERE id = :id"),
                            [{"id": account, "amount": amount} for account, amount in items])
        add_year_minutes(session, plan.year_minutes)
        return
    types = _column_types(session, [(table, columns) for table, columns, _rows in tables])
    with _cursor(session) as cursor:
        if by_batch:  # the keys were checked (and their rows locked) once each: see the module's note
            cursor.execute("SET LOCAL session_replication_role = replica")
        for table, columns, rows in tables:
            if rows:
                # binary: the driver packs the tuples in C, the server parses no text
                with cursor.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types[table])
                    for row in rows:
                        copy.write_row(row)
        if by_batch:
            cursor.execute("SET LOCAL session_replication_role = origin")
        # Lock the counter-side rows (units' accounts: other writers share them) in account order
        # first, as `postings.apply_to_balances` does (an UPDATE ... FROM takes rows in whatever
        # order its join runs, which deadlocks two batches sharing unit accounts), then one
        # UPDATE.  The volunteers' own accounts need no such order: every writer of them holds
        # the volunteer's row first, and this batch holds all of its volunteers' rows.  Every
        # account posted to is then locked until COMMIT: that stands for its postings' key check.
        cursor.execute("SELECT id FROM accounts WHERE id = ANY(CAST(%s AS integer[])) ORDER BY id "
                       "FOR NO KEY UPDATE", (_array(sorted(plan.counter_accounts)),))
        if items:
            cursor.execute("UPDATE accounts SET balance = accounts.balance + d.amount "
                           "FROM unnest(CAST(%s AS integer[]), CAST(%s AS bigint[])) AS d(id, amount) "
                           "WHERE accounts.id = d.id", (_array(a for a, _ in items), _array(m for _, m in items)))
        # after the balances: the same order as `post` (`postings.add_year_minutes`, one statement)
        rows = sorted((key, minutes) for key, minutes in plan.year_minutes.items() if minutes)
        if rows:
            cursor.execute(
                "INSERT INTO volunteer_year_minutes (volunteer_id, year, minutes) "
                "SELECT v, y, m FROM unnest(CAST(%s AS integer[]), CAST(%s AS integer[]), CAST(%s AS bigint[])) "
                "WITH ORDINALITY AS d(v, y, m, i) ORDER BY i ON CONFLICT (volunteer_id, year) "
                "DO UPDATE SET minutes = volunteer_year_minutes.minutes + EXCLUDED.minutes",
                (_array(k[0] for k, _ in rows), _array(k[1] for k, _ in rows), _array(m for _, m in rows)))


def _column_types(session: Session, tables: list[tuple[str, Sequence[str]]]) -> dict[str, list[int]]:
    """The type oids of the columns a binary COPY writes, as the schema has them now."""
    with _cursor(session) as cursor:
        cursor.execute("SELECT c.relname, a.attname, a.atttypid FROM pg_attribute a "
                       "JOIN pg_class c ON c.oid = a.attrelid "
                       "WHERE a.attrelid = ANY(CAST(%s AS regclass[])) AND a.attnum > 0 AND NOT a.attisdropped",
                       ("{" + ",".join(table for table, _ in tables) + "}",))
        oids = {(table, column): oid for table, column, oid in cursor.fetchall()}
    return {table: [oids[(table, column)] for column in columns] for table, columns in tables}


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
