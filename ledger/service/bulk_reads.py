"""What the batch path (`service.bulk`) reads before it writes, thousands of rows a statement.

The activities, volunteers, units and policy versions a batch refers to (`BatchFacts`,
locking each row as a foreign key check would), the overlaps it must refuse, the accounts
it posts to, the minutes already credited where a cap may bind, and the star levels and
year minutes the star rule counts.  The rules themselves are the single path's
(`incentives.caps`, `incentives.funding`, `incentives.stars`): only the reading differs.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Iterable, NamedTuple, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.book.accounts import KINDS
from ledger.errors import Conflict, NotFound, UnknownVolunteer
from ledger.incentives import pricing
from ledger.incentives.caps import RunningCredit, may_bind, scopes_capped
from ledger.incentives.document import Caps
from ledger.incentives.funding import version_in_force, version_label
from ledger.incentives.policy import Policy
from ledger.people.access import Principal, in_scope
from ledger.store.batch import in_ids
from ledger.store.tables import utcnow

if TYPE_CHECKING:
    from ledger.service.bulk import ApprovedService

WRITTEN = ("service_records", "transactions", "transaction_keys", "postings", "star_events")


def keys_checked_by_batch(session: Session) -> bool:
    """May this PostgreSQL transaction write its COPYs without the per-row foreign key checks?

    Yes when the role may set `session_replication_role` (a superuser, or `GRANT SET ON
    PARAMETER session_replication_role`, PostgreSQL 15+), the setting is the ordinary one,
    and no trigger that the setting would skip (enabled 'O', the default) fires on INSERT into
    the tables the batch writes (or their partitions): then the batch writes checked.  A
    trigger enabled ALWAYS, as the zero-sum rule on postings is (revision 0017), fires anyway.
    """
    return bool(session.execute(text("""
        SELECT current_setting('session_replication_role') = 'origin'
           AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                OR (current_setting('server_version_num')::int >= 150000
                    AND has_parameter_privilege('session_replication_role', 'SET')))
           AND NOT EXISTS (
                SELECT 1 FROM pg_trigger
                WHERE NOT tgisinternal AND tgenabled = 'O' AND (tgtype & 4) <> 0
                  AND tgrelid IN (SELECT CAST(t AS regclass) FROM unnest(CAST(:tables AS text[])) AS t
                                  UNION ALL SELECT p.relid FROM unnest(CAST(:tables AS text[])) AS t,
                                                                pg_partition_tree(CAST(t AS regclass)) AS p))
    """), {"tables": list(WRITTEN)}).scalar())


class BatchFacts:
    """Everything a batch reads before it writes: activities, units, volunteers, policies, users."""

    def __init__(self) -> None:
        self.activities: dict[int, tuple] = {}  # id -> (unit_id, category, tags, title)
        self.paths: dict[int, str] = {}
        self.volunteers: dict[int, tuple] = {}  # id -> (home_unit_id, registered_on)
        self.held_on: dict[int, dt.date] = {}  # activity id -> its day
        self.versions: dict[int, list[StoredVersion]] = defaultdict(list)  # unit -> its versions
        self._in_force: dict[tuple[int, dt.date], tuple] = {}
        self._ancestors: dict[int, list[int]] = {}
        self._homes: dict[int, list[tuple]] | None = None  # volunteer -> [(from, to, unit)], newest first
        self._home_on: dict[tuple[int, dt.date], int] = {}

    @classmethod
    def load(cls, session: Session, principal: Principal, services: Sequence[ApprovedService],
             lock: bool = False) -> "BatchFacts":
        """Read what the batch refers to; `lock`: hold each row as a foreign key check would."""
        share = " FOR KEY SHARE" if lock else ""
        facts = cls()
        for row in in_ids(session, "SELECT id, unit_id, category, tags, title, held_on FROM activities "
                                "WHERE id IN (:ids)" + share, {s.activity_id for s in services}):
            tags = row[3] if isinstance(row[3], list) else _json_list(row[3])
            facts.activities[row[0]] = (row[1], row[2], frozenset(tags or ()), row[4])
            facts.held_on[row[0]] = _date(row[5])
        for service in services:
            if service.activity_id not in facts.activities:
                raise NotFound(f"activity {service.activity_id} not found", field="activity_id")
        users = {s.recorded_by for s in services} | {principal.user_id}
        found = {row[0] for row in in_ids(session, "SELECT id FROM users WHERE id IN (:ids)" + share, users)}
        for service in services:
            if service.recorded_by not in found:
                raise NotFound(f"user {service.recorded_by} not found", field="recorded_by")
        if principal.user_id not in found:
            raise NotFound(f"user {principal.user_id} not found", field="approved_by")
        facts._load_volunteers(session, {s.volunteer_id for s in services})
        units = {a[0] for a in facts.activities.values()} | {v[0] for v in facts.volunteers.values()}
        for unit_id, path in in_ids(session, "SELECT id, path FROM units WHERE id IN (:ids)" + share, units):
            facts.paths[unit_id] = path
        for unit_id, _c, _t, _title in facts.activities.values():
            if not in_scope(principal, facts.paths[unit_id]):
                raise NotFound(f"activity of unit {unit_id} not found", field="activity_id")
        every_ancestor = {a for u in units for a in facts.ancestors(u)}
        for row in in_ids(session, "SELECT unit_id, effective_from, version, id, document FROM policy_versions "
                                   "WHERE unit_id IN (:ids)" + share, every_ancestor):
            facts.versions[row[0]].append(StoredVersion(row[0], _date(row[1]), row[2], row[3], row[4]))
        return facts

    def _load_volunteers(self, session: Session, ids: set[int]) -> None:
        lock = "" if session.get_bind().dialect.name == "sqlite" else " ORDER BY id FOR UPDATE"
        for row in in_ids(session, "SELECT id, home_unit_id, registered_on, status FROM volunteers "
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
            for volunteer, unit, valid_from, valid_to in in_ids(
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
        """(version id, label, policy) in force for a unit on a date (`funding.version_in_force`)."""
        key = (unit_id, on_date)
        found = self._in_force.get(key)
        if found is None:
            chain = self.ancestors(unit_id)
            version = version_in_force(chain, (v for unit in chain for v in self.versions.get(unit, ())), on_date)
            policy = pricing.parse_cached(version.document) if version else pricing.default_policy()
            found = self._in_force[key] = (version.id if version else None, version_label(version), policy)
        return found


class StoredVersion(NamedTuple):
    """A published policy version as the batch reads it."""

    unit_id: int
    effective_from: dt.date
    version: int
    id: int
    document: str


def _json_list(value) -> list:
    return json.loads(value) if value else []


def _date(value) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def refuse_overlaps(session: Session, services: Sequence[ApprovedService]) -> None:
    """Refuse a service overlapping another of the same volunteer, in the batch or stored."""
    lo = min(s.started_at for s in services)
    hi = max(s.ended_at for s in services)
    spans: dict[int, list[tuple]] = defaultdict(list)
    for row in in_ids(session, "SELECT volunteer_id, started_at, ended_at, id FROM service_records "
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


class Accounts:
    """The batch's accounts: id per owner for each of the four kinds, and balances before it."""

    def __init__(self, found: dict) -> None:
        self.ids: dict[str, dict[int, int]] = defaultdict(dict)
        self.balances: dict[str, dict[int, int]] = defaultdict(dict)
        for (kind, owner), (account, balance) in found.items():
            self.ids[kind][owner] = account
            self.balances[kind][owner] = balance


def open_accounts(session: Session, services: Sequence[ApprovedService], priced: list[tuple]) -> Accounts:
    """The accounts the batch posts to, opening missing ones in first-use order (as one by one)."""
    volunteers = {s.volunteer_id for s in services}
    by_kind = {"volunteer_minutes": volunteers, "unit_minutes_served": {p[UNIT] for p in priced},
               "volunteer_points": volunteers, "unit_points_issued": {p[FUNDING] for p in priced}}
    found = read_accounts(session, ((kind, owner) for kind, owners in by_kind.items() for owner in owners))
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
        found.update(read_accounts(session, missing))
    return Accounts(found)


def read_accounts(session: Session, keys: Iterable[tuple[str, int]]) -> dict:
    by_kind: dict[str, set[int]] = defaultdict(set)
    for kind, owner in keys:
        by_kind[kind].add(owner)
    found = {}
    for kind, owners in by_kind.items():
        for account, owner, value in in_ids(session, "SELECT id, owner_id, balance FROM accounts "
                                                  "WHERE kind = :kind AND owner_id IN (:ids)", owners, kind=kind):
            found[(kind, owner)] = (account, int(value))
    return found


def credited_before(session: Session, wanted: Sequence[tuple[int, int, dt.date, int, Caps]]
                    ) -> tuple[RunningCredit, list[list]]:
    """Minutes and points already credited to each volunteer in every cap scope before the batch,
    and each record's keys in those scopes (`RunningCredit.keys`, computed once).

    `wanted`: (volunteer, activity, service day, minutes, the caps of its policy) per record,
    in batch order.  Exact where a cap may bind; elsewhere a bound that gives the same prices.
    A posted record never credited more than its minutes, so the minutes of the volunteer's
    posted records bound what they credited.  A volunteer none of whose records in the batch
    can meet a cap even at those bounds, counting every record before it at its full minutes,
    is priced the same with the bound as with the exact figure (`caps.may_bind`): only the
    other volunteers need the exact sums, which join the postings.
    """
    every_caps = list({id(caps): caps for *_rest, caps in wanted}.values())
    scopes = {scope for caps in every_caps for measure in ("minutes", "points") for scope in scopes_capped(caps, measure)}
    years = {day.year for _v, _a, day, _m, _c in wanted}
    january = dt.date(min(years), 1, 1)
    lo = dt.datetime.combine(january - dt.timedelta(days=january.weekday()), dt.time())  # its week's Monday
    hi = dt.datetime(max(years) + 1, 1, 1)
    hi += dt.timedelta(days=(7 - hi.weekday()) % 7)  # to the end of the last week
    on_day = "CAST(started_at AS date)" if session.get_bind().dialect.name == "postgresql" else "date(started_at)"
    credited = RunningCredit(sorted(scopes), points=any(caps.points_limits for caps in every_caps))
    keys = [credited.keys(volunteer_id, activity_id, day) for volunteer_id, activity_id, day, _m, _c in wanted]
    if not scopes:
        return credited, keys
    for volunteer_id, activity_id, day, total in in_ids(session, f"""
            SELECT volunteer_id, activity_id, {on_day}, SUM(minutes) FROM service_records
            WHERE volunteer_id IN (:ids) AND status = 'posted' AND started_at >= :lo AND started_at < :hi
            GROUP BY volunteer_id, activity_id, {on_day}""", {w[0] for w in wanted}, lo=lo, hi=hi):
        credited.add(volunteer_id, activity_id, _date(day), int(total))
    bound = RunningCredit(credited.scopes, points=False)
    bound.minutes.update(credited.minutes)
    risky = set()
    for (volunteer_id, _activity_id, _day, minutes, caps), record_keys in zip(wanted, keys):
        if volunteer_id not in risky:
            if may_bind(caps, minutes, bound.used(record_keys)[0]):
                risky.add(volunteer_id)
            bound.count(record_keys, minutes)
    if risky:
        _exact_credit(session, credited, risky, lo, hi)
    return credited, keys


def _exact_credit(session: Session, credited: RunningCredit, volunteers: set[int], lo: dt.datetime,
                  hi: dt.datetime) -> None:
    """Replace the bounds of `volunteers` by what their posted records were credited."""
    credited.forget(volunteers)
    # a posted record names its service transaction, dated on its service day (as the caps
    # query of `pricing.credited_in_scopes` reads it: no join to transactions)
    for volunteer_id, activity_id, started_at, kind, amount in in_ids(session, """
            SELECT sr.volunteer_id, sr.activity_id, sr.started_at, a.kind, p.amount FROM service_records sr
            JOIN postings p ON p.transaction_id = sr.transaction_id
            JOIN accounts a ON a.id = p.account_id AND a.kind IN ('volunteer_minutes', 'volunteer_points')
            WHERE sr.volunteer_id IN (:ids) AND sr.status = 'posted'
              AND sr.started_at >= :lo AND sr.started_at < :hi
              AND p.occurred_on >= :first AND p.occurred_on < :next""",
            volunteers, lo=lo, hi=hi, first=lo.date(), next=hi.date()):
        minutes = int(amount) if kind == "volunteer_minutes" else 0
        credited.add(volunteer_id, activity_id, _datetime(started_at).date(), minutes, int(amount) - minutes)


def last_levels(session: Session, volunteers: set[int]) -> dict[int, int]:
    return {v: int(level) for v, level in in_ids(session, """
        SELECT volunteer_id, level_after FROM star_events WHERE id IN (
            SELECT MAX(id) FROM star_events WHERE volunteer_id IN (:ids) GROUP BY volunteer_id)""",
                                              volunteers)}


def minutes_by_year(session: Session, services: Sequence[ApprovedService]) -> dict:
    """Minutes on each volunteer's hours account per calendar year (as `pricing.minutes_in_year`)."""
    found: dict = defaultdict(int)
    years = ",".join(str(int(year)) for year in {s.started_at.year for s in services})
    for owner, year, total in in_ids(session, "SELECT volunteer_id, year, minutes FROM volunteer_year_minutes "
                                           f"WHERE volunteer_id IN (:ids) AND year IN ({years})",
                                  {s.volunteer_id for s in services}):
        found[(owner, year)] = int(total)
    return found
