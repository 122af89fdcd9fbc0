"""The ranking itself, in SQL: aggregation of postings at a ledger position, then window functions.

Level 0 sums the postings on the volunteers' own hours and points accounts per transaction,
reading only the postings of the subtree's units from the period's first day on, at
transactions.id <= position.  Level 1 sums, per service record (服务记录), the transactions
that name it (service, rating bonus, complaint, adjustment, reversal).  The period is the
record's service date, so a reversal posted later takes the record out of the period it was
served in — but only when the reversal is at or before the position.  Level 2 groups by
subject (volunteer or team), level 3 adds the eligibility facts (star level as of the
position, membership at the period end, the quota group), level 4 ranks with ROW_NUMBER() in
each quota group and level 5 applies the quota.  Entries are written with INSERT ... SELECT,
so the rows never pass through Python.

Reading postings by their own unit is exact: every transaction that names a service record
books the volunteer's legs on the record's unit (service_records.post_record, ratings,
adjustments, reversals copy the legs), so postings.unit_id of those legs is the record's
unit.  The volunteer's own accounts are told from the counter-side ones by excluding the
(few) accounts of the other kinds, so the accounts table is never hashed whole.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    Text,
    and_,
    any_,
    case,
    cast,
    column,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session, aliased

from ledger.book.accounts import KINDS as ACCOUNT_KINDS, MINUTES, POINTS
from ledger.book.tables import Account, Posting, Transaction
from ledger.incentives.tables import StarEvent
from ledger.people.tables import Membership, Team, Unit, Volunteer
from ledger.rankings.tables import RankingEntry, RankingRun
from ledger.service.tables import Activity, ServiceRecord

KINDS = ("volunteer_minutes", "volunteer_points")
# every other kind of account (counter-side, held points): few rows, excluded by a hashed NOT IN
OTHER_KINDS = tuple(kind for kind in ACCOUNT_KINDS if kind not in KINDS)


def _root(session: Session, unit_id: int) -> Unit:
    return session.get(Unit, unit_id)


def _day_after(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def per_transaction(root_path: str, run: RankingRun):
    """Postings of service-linked transactions at the position, summed per transaction (audit trail)."""
    in_period = case((ServiceRecord.started_at >= dt.datetime.combine(run.period_start, dt.time()), 1), else_=0)
    query = select(
        Transaction.id.label("tx_id"), Transaction.kind.label("tx_kind"), Transaction.occurred_on.label("tx_date"),
        ServiceRecord.id.label("record_id"), ServiceRecord.volunteer_id, ServiceRecord.activity_id,
        ServiceRecord.started_at, in_period.label("in_period"),
        func.sum(case((Account.kind == "volunteer_minutes", Posting.amount), else_=0)).label("minutes"),
        func.sum(case((Account.kind == "volunteer_points", Posting.amount), else_=0)).label("points"))
    return _service_postings(query, root_path, run).group_by(Transaction.id, Transaction.occurred_on, ServiceRecord.id)


def _same_transaction():
    """A posting's transaction, joined by id alone.  Both tables are partitioned by month on
    PostgreSQL, and joining on the date as well (a posting is dated as its transaction) was
    tried: the planner multiplies the two clauses' selectivities as if they were independent,
    expects one row where there are thousands and nests loops (a county's ranking: 0.2 s ->
    4.8 s).  These reports hash-join whole ranges, so the date filters on both tables do the
    pruning instead."""
    return Transaction.id == Posting.transaction_id


def _service_postings(query, root_path: str, run: RankingRun):
    """Restrict a SELECT to the period's service postings at the position, inside the subtree."""
    year_start = dt.date(run.period_end.year, 1, 1)
    start = min(year_start, run.period_start)
    return (query.select_from(Posting)
            .join(Account, Account.id == Posting.account_id)
            .join(Transaction, _same_transaction())
            .join(ServiceRecord, ServiceRecord.id == Transaction.service_record_id)
            .join(Unit, Unit.id == ServiceRecord.unit_id)
            .where(Posting.occurred_on >= start, Posting.volunteer_id.is_not(None), Account.kind.in_(KINDS),
                   Transaction.id <= run.ledger_position, Transaction.occurred_on >= start,
                   Unit.path.startswith(root_path),
                   ServiceRecord.started_at >= dt.datetime.combine(start, dt.time()),
                   ServiceRecord.started_at < _day_after(run.period_end)))


# Settings for the report statements, PostgreSQL only, restored after each statement:
# - no JIT: these statements are estimated above jit_above_cost at a county's size and compiling
#   them took ~0.1 s, more than it saved at every size measured (bench figure 5);
# - work_mem for one statement's hashes and sorts: at 4 MB (the stock setting) the per-record
#   and per-volunteer aggregates of a county spill to disk (external merge, hash batches).
REPORT_SETTINGS = {"jit": "off", "work_mem": "64MB"}


@contextmanager
def report_settings(session: Session):
    """REPORT_SETTINGS for the statements inside (SET LOCAL, put back as they were after)."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    names = list(REPORT_SETTINGS)
    before = session.execute(text(
        "SELECT " + ", ".join(f"current_setting('{name}'), set_config('{name}', :{name}, true)" for name in names)),
        REPORT_SETTINGS).one()
    try:
        yield
    finally:
        session.execute(text("SELECT " + ", ".join(f"set_config('{name}', :{name}, true)" for name in names)),
                        {name: before[2 * i] for i, name in enumerate(names)})


def _first_day(run: RankingRun) -> dt.date:
    """The first service date a run reads: 1 January of its year, or the period start if earlier."""
    return min(dt.date(run.period_end.year, 1, 1), run.period_start)


@dataclass(frozen=True)
class Subtree:
    """A unit subtree as the statements filter on it: by path, and on PostgreSQL by the list of
    its unit ids, bound as one array (`unit_id = ANY(...)` filters the postings as they are read;
    `IN (SELECT ...)` became a semi-join the planner put after the join to transactions)."""

    path: str
    unit_ids: tuple[int, ...] | None = None

    def contains(self, column):
        if self.unit_ids is None:
            return column.in_(select(Unit.id).where(Unit.path.startswith(self.path)))
        return column == any_(literal(list(self.unit_ids), ARRAY(Integer)))


def subtree(session: Session, root_path: str) -> Subtree:
    """The subtree under a path, with its unit ids on PostgreSQL."""
    if session.get_bind().dialect.name != "postgresql":
        return Subtree(root_path)
    return Subtree(root_path, tuple(session.execute(
        select(Unit.id).where(Unit.path.startswith(root_path)).order_by(Unit.id)).scalars()))


def counted_postings(units: Subtree, run: RankingRun) -> list:
    """WHERE terms on postings: volunteers' hours and points legs in the subtree, at the position."""
    return [Posting.occurred_on >= _first_day(run), Posting.transaction_id <= run.ledger_position,
            Posting.volunteer_id.is_not(None), units.contains(Posting.unit_id),
            Posting.account_id.not_in(select(Account.id).where(Account.kind.in_(OTHER_KINDS)))]


def served_minutes(units: Subtree, run: RankingRun):
    """The served-minutes postings (volunteer_id, unit_id, amount) of the records served from the
    run's first day to its period end, at the position — per posting, no per-record grouping
    (what the targets report needs).

    A transaction that names a service record is dated on the record's service date (service,
    rating, complaint, adjustment), except a reversal, dated when it was posted: for a reversal
    alone the record's start is looked up (by primary key, in a CASE branch no other row takes)."""
    first = dt.datetime.combine(_first_day(run), dt.time())
    started = select(ServiceRecord.started_at).where(ServiceRecord.id == Transaction.service_record_id)
    in_window = case((Transaction.reverses_id.is_(None), Posting.occurred_on <= run.period_end),
                     else_=and_(started.scalar_subquery() >= first,
                                started.scalar_subquery() < _day_after(run.period_end)))
    return (select(Posting.volunteer_id, Posting.unit_id, Posting.amount.label("minutes"))
            .join(Transaction, _same_transaction())
            .where(*counted_postings(units, run), Posting.uom == MINUTES,
                   Transaction.service_record_id.is_not(None), Transaction.occurred_on >= first.date(),
                   units.contains(Transaction.unit_id), in_window)).subquery("served_minutes")


def int_sum(value):
    """SUM kept an integer: PostgreSQL sums bigints into numeric, which is slower at every level above."""
    return cast(func.sum(value), BigInteger)


def per_transaction_sums(units: Subtree, run: RankingRun):
    """Level 0: net minutes and points per transaction, from postings alone (one scan)."""
    return (select(Posting.transaction_id.label("tx_id"),
                   int_sum(case((Posting.uom == MINUTES, Posting.amount), else_=0)).label("minutes"),
                   int_sum(case((Posting.uom == POINTS, Posting.amount), else_=0)).label("points"))
            .where(*counted_postings(units, run))
            .group_by(Posting.transaction_id)).subquery("tx_sums")


def per_record(units: Subtree, run: RankingRun):
    """Level 1: net minutes and points per service record served in the period's year.

    The transactions are summed per record first (a narrow aggregate), then the record's own
    columns are joined.  Transactions and records are filtered by unit too (a transaction that
    names a record carries the record's unit), which keeps both hash tables to the subtree.
    `rated` is 1 when the record has a rating and its `rating` transaction is at or before the
    position (an index lookup, made for rated records only)."""
    first = _first_day(run)
    sums = per_transaction_sums(units, run)
    by_record = (select(Transaction.service_record_id.label("record_id"), int_sum(sums.c.minutes).label("minutes"),
                        int_sum(sums.c.points).label("points"), func.count().label("n_tx"),
                        func.max(case((Transaction.reverses_id.is_not(None), 1), else_=0)).label("has_reversal"))
                 .select_from(sums).join(Transaction, Transaction.id == sums.c.tx_id)
                 .where(Transaction.service_record_id.is_not(None), Transaction.occurred_on >= first,
                        units.contains(Transaction.unit_id))
                 .group_by(Transaction.service_record_id)).subquery("by_record")
    in_period = case((ServiceRecord.started_at >= dt.datetime.combine(run.period_start, dt.time()), 1), else_=0)
    rating_tx = aliased(Transaction, name="rating_tx")
    first_rating = (select(func.min(rating_tx.id)).where(rating_tx.service_record_id == ServiceRecord.id,
                                                         rating_tx.kind == "rating").scalar_subquery())
    rated = case((and_(ServiceRecord.rating.is_not(None), first_rating <= run.ledger_position), 1), else_=0)
    return select(
        ServiceRecord.id.label("record_id"), ServiceRecord.volunteer_id, ServiceRecord.activity_id,
        ServiceRecord.rating, ServiceRecord.started_at, ServiceRecord.unit_id, in_period.label("in_period"),
        by_record.c.minutes, by_record.c.points, by_record.c.n_tx, by_record.c.has_reversal, rated.label("rated"),
    ).select_from(by_record).join(ServiceRecord, ServiceRecord.id == by_record.c.record_id).where(
        units.contains(ServiceRecord.unit_id), ServiceRecord.started_at >= dt.datetime.combine(first, dt.time()),
        ServiceRecord.started_at < _day_after(run.period_end)).subquery("rec")


def _subject_key(doc: dict, rec):
    """The subject column of a level-1 row, and the joins it needs."""
    if doc["subject"] == "volunteer":
        return rec.c.volunteer_id, None
    if doc["team_attribution"] == "activity":
        return Activity.team_id, ("activity", Activity.id == rec.c.activity_id)
    valid = and_(Membership.volunteer_id == rec.c.volunteer_id, Membership.team_id.is_not(None),
                 Membership.valid_from <= rec.c.started_at,
                 or_(Membership.valid_to.is_(None), Membership.valid_to > rec.c.started_at))
    return Membership.team_id, ("membership", valid)


def per_subject(doc: dict, units: Subtree, run: RankingRun):
    """Level 2: the figures of each subject that has a transaction in the period."""
    rec = per_record(units, run)
    subject, join = _subject_key(doc, rec)
    in_period = rec.c.in_period == 1
    counted = and_(in_period, rec.c.minutes > 0)
    # a 评单 counts once its `rating` transaction is at or before the position (even a zero bonus)
    is_rated = and_(counted, rec.c.rated == 1)
    query = select(
        subject.label("subject_id"),
        int_sum(case((in_period, rec.c.minutes), else_=0)).label("minutes"),
        int_sum(rec.c.minutes).label("year_minutes"),
        int_sum(case((in_period, rec.c.points), else_=0)).label("points"),
        func.count(func.distinct(case((counted, rec.c.activity_id), else_=null()))).label("activities"),
        int_sum(case((is_rated, rec.c.rating), else_=0)).label("rating_sum"),
        int_sum(case((is_rated, 1), else_=0)).label("rating_count"),
        int_sum(case((in_period, rec.c.n_tx), else_=0)).label("tx_count"),
        func.max(case((in_period, rec.c.has_reversal), else_=0)).label("has_reversal"),
    ).select_from(rec)
    if join is not None:
        target = Activity if join[0] == "activity" else Membership
        query = query.join(target, join[1]).where(subject.is_not(None))
    return (query.group_by(subject)
            .having(int_sum(case((in_period, rec.c.n_tx), else_=0)) > 0)).subquery("subj")


def unit_groups(session: Session, root: Unit):
    """unit id -> its quota group: the child of the root it lies under (units of the subtree).

    On PostgreSQL the pairs are read first and bound as a VALUES list: the planner then knows
    how many there are (from the join of units on `path LIKE`, it guessed one, and matched
    every served posting against every unit in a nested loop: a county's targets 0.06 -> 0.19 s
    once the transactions' estimates moved with their partitioning)."""
    inner, child = Unit.__table__.alias("inner_unit"), Unit.__table__.alias("child_unit")
    pairs = (select(inner.c.id.label("unit_id"), child.c.id.label("group_id")).select_from(inner)
             .join(child, and_(child.c.parent_id == root.id, inner.c.path.startswith(child.c.path)))
             .where(inner.c.path.startswith(root.path)))
    if session.get_bind().dialect.name != "postgresql":
        return pairs.subquery("unit_group")
    rows = [tuple(row) for row in session.execute(pairs.order_by(inner.c.id))] or [(None, None)]
    return values(column("unit_id", Integer), column("group_id", Integer), name="unit_group").data(rows)


def _star_as_of(run: RankingRun):
    numbered = select(StarEvent.volunteer_id, StarEvent.level_after, func.row_number().over(
        partition_by=StarEvent.volunteer_id, order_by=StarEvent.id.desc()).label("rn")).where(
        StarEvent.id <= run.star_position, StarEvent.occurred_on <= run.period_end).subquery("stars")
    return select(numbered.c.volunteer_id, numbered.c.level_after).where(numbered.c.rn == 1).subquery("star")


def _home_at_end(units: Subtree, run: RankingRun):
    """The home unit in the subtree of each volunteer at the period end (the subtree's
    memberships only: on PostgreSQL read through the memberships' unit index)."""
    return (select(Membership.volunteer_id, func.min(Membership.unit_id).label("unit_id"))
            .where(Membership.is_home.is_(True), Membership.valid_from <= run.period_end,
                   or_(Membership.valid_to.is_(None), Membership.valid_to > run.period_end),
                   units.contains(Membership.unit_id))
            .group_by(Membership.volunteer_id)).subquery("home")


def with_facts(session: Session, doc: dict, run: RankingRun):
    """Level 3: names, quota group, star level and the eligibility flags."""
    root = _root(session, doc["unit_id"])
    units = subtree(session, root.path)
    subj = per_subject(doc, units, run)
    rules = doc["eligibility"]
    basis = subj.c.year_minutes if rules["min_hours_basis"] == "year" else subj.c.minutes
    if doc["subject"] == "volunteer":
        star, home, groups = _star_as_of(run), _home_at_end(units, run), unit_groups(session, root)
        level = func.coalesce(star.c.level_after, 0)
        group = func.coalesce(groups.c.group_id, root.id)
        query = (select(subj, Volunteer.name.label("subject_name"), Volunteer.number.label("subject_number"),
                        Volunteer.registered_on.label("registered_on"), level.label("star_level"),
                        group.label("group_unit_id"),
                        (home.c.unit_id.is_(None) if rules["active_membership"] else false()).label("no_home"))
                 .join(Volunteer, Volunteer.id == subj.c.subject_id)
                 .outerjoin(star, star.c.volunteer_id == subj.c.subject_id)
                 .outerjoin(home, home.c.volunteer_id == subj.c.subject_id)
                 .outerjoin(groups, groups.c.unit_id == func.coalesce(home.c.unit_id, Volunteer.home_unit_id)))
    else:
        level, groups = literal(0), unit_groups(session, root)
        group = func.coalesce(groups.c.group_id, root.id)
        query = (select(subj, Team.name.label("subject_name"), Team.code.label("subject_number"),
                        literal(None).label("registered_on"), level.label("star_level"),
                        group.label("group_unit_id"), false().label("no_home"))
                 .join(Team, Team.id == subj.c.subject_id)
                 .outerjoin(groups, groups.c.unit_id == Team.unit_id))
    return query.add_columns(
        (basis < rules["min_minutes"]).label("lacks_hours"),
        (level < rules["min_star_level"]).label("lacks_star"),
        ((subj.c.has_reversal == 1) if rules["no_reversed_records"] else false()).label("has_reversed_record"),
    ).subquery("facts")


def _order_terms(doc: dict, facts) -> list:
    rating_key = case((facts.c.rating_count == 0, -1),
                      else_=facts.c.rating_sum * 10000 / facts.c.rating_count)
    metric = {"hours": facts.c.minutes.desc(), "points": facts.c.points.desc(),
              "activities": facts.c.activities.desc(), "rating": rating_key.desc()}
    extra = {"earlier_registration": facts.c.registered_on.asc(), "number": facts.c.subject_number.asc(),
             "id": facts.c.subject_id.asc()}
    terms = [metric[name] for name in doc["metrics"]]
    terms += [metric.get(name, extra.get(name)) for name in doc["tie_break"]]
    return terms + [facts.c.subject_id.asc()]


def ranked(session: Session, doc: dict, run: RankingRun):
    """Levels 4 and 5: the rank in each quota group and the shortlist, as a SELECT."""
    facts = with_facts(session, doc, run)
    eligible = and_(facts.c.lacks_hours == false(), facts.c.lacks_star == false(),
                    facts.c.has_reversed_record == false(), facts.c.no_home == false())
    is_eligible = case((eligible, true()), else_=false())
    partition = [is_eligible] + ([facts.c.group_unit_id] if doc["quota"]["per"] == "unit" else [])
    numbered = select(facts, is_eligible.label("is_eligible"),
                      func.row_number().over(partition_by=partition, order_by=_order_terms(doc, facts)).label("rn"),
                      func.count().over(partition_by=partition).label("n_group")).subquery("numbered")
    quota = doc["quota"]
    if "top_n" in quota:
        cut = literal(quota["top_n"])
    else:
        share = Decimal(quota["top_share"]).as_integer_ratio()
        raw = numbered.c.n_group * share[0] / share[1]
        cut = case((raw < 1, 1), else_=raw)
    ok = numbered.c.is_eligible == true()
    return select(
        numbered.c.subject_id, numbered.c.subject_name, numbered.c.subject_number, numbered.c.group_unit_id,
        numbered.c.minutes, numbered.c.points, numbered.c.activities, numbered.c.rating_sum,
        numbered.c.rating_count, numbered.c.tx_count, numbered.c.year_minutes, numbered.c.star_level,
        numbered.c.is_eligible, cast(numbered.c.lacks_hours, Boolean).label("lacks_hours"),
        cast(numbered.c.lacks_star, Boolean).label("lacks_star"),
        cast(numbered.c.has_reversed_record, Boolean).label("has_reversed_record"),
        cast(numbered.c.no_home, Boolean).label("lacks_membership"),
        case((ok, numbered.c.rn), else_=null()).label("rank"),
        case((and_(ok, numbered.c.rn <= cut), true()), else_=false()).label("is_shortlisted"),
    )


ENTRY_COLUMNS = ("subject_id", "subject_name", "subject_number", "group_unit_id", "minutes", "points",
                 "activities", "rating_sum", "rating_count", "tx_count", "year_minutes", "star_level",
                 "is_eligible", "lacks_hours", "lacks_star", "has_reversed_record", "lacks_membership",
                 "rank", "is_shortlisted")


def insert_entries(session: Session, doc: dict, run: RankingRun) -> tuple[int, int, int, str] | None:
    """Write the run's entries with one INSERT ... SELECT.

    On PostgreSQL the same statement returns (candidates, eligible, shortlisted, entries hash)
    over the rows it wrote (a data-modifying CTE): the hash lines are rendered by
    json_build_array, byte for byte what `rankings.entries_hash` renders with json.dumps.
    Elsewhere it returns None and the caller seals the run from the stored entries."""
    body = ranked(session, doc, run).subquery("ranked")
    source = select(literal(run.id).label("run_id"), *[body.c[name] for name in ENTRY_COLUMNS])
    statement = insert(RankingEntry).from_select(["run_id", *ENTRY_COLUMNS], source)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(statement)
        return None
    written = statement.returning(*[RankingEntry.__table__.c[name] for name in ENTRY_COLUMNS]).cte("written")
    line = cast(func.json_build_array(*[written.c[name] for name in ENTRY_COLUMNS]), Text) + "\n"
    lines = func.string_agg(line, aggregate_order_by(literal(""), written.c.subject_id))
    seal = select(func.count(), func.count().filter(written.c.is_eligible.is_(True)),
                  func.count().filter(written.c.is_shortlisted.is_(True)),
                  func.encode(func.sha256(func.convert_to(func.coalesce(lines, ""), "UTF8")), "hex"))
    with report_settings(session):
        candidates, eligible, shortlisted, digest = session.execute(seal).one()
    return int(candidates), int(eligible), int(shortlisted), digest


def compute_rows(session: Session, doc: dict, run: RankingRun):
    """The entries a run would have, recomputed now at its positions, ordered by subject."""
    body = ranked(session, doc, run).subquery("ranked")
    return session.execute(select(*[body.c[name] for name in ENTRY_COLUMNS]).order_by(body.c.subject_id)
                           .execution_options(yield_per=5000))


def entry_counts(session: Session, run_id: int) -> tuple[int, int, int]:
    """(candidates, eligible, shortlisted) of a run."""
    row = session.execute(select(
        func.count(), func.coalesce(func.sum(case((RankingEntry.is_eligible == true(), 1), else_=0)), 0),
        func.coalesce(func.sum(case((RankingEntry.is_shortlisted == true(), 1), else_=0)), 0),
    ).where(RankingEntry.run_id == run_id)).one()
    return int(row[0]), int(row[1]), int(row[2])


def trace(session: Session, doc: dict, run: RankingRun, subject_id: int) -> list[dict]:
    """The transactions behind one subject's figures in the period (audit trail)."""
    root = _root(session, doc["unit_id"])
    tx = per_transaction(root.path, run).subquery("tx")
    query = select(tx).where(tx.c.in_period == 1)
    if doc["subject"] == "volunteer":
        query = query.where(tx.c.volunteer_id == subject_id)
    elif doc["team_attribution"] == "activity":
        query = query.join(Activity, Activity.id == tx.c.activity_id).where(Activity.team_id == subject_id)
    else:
        query = query.join(Membership, and_(
            Membership.volunteer_id == tx.c.volunteer_id, Membership.team_id == subject_id,
            Membership.valid_from <= tx.c.started_at,
            or_(Membership.valid_to.is_(None), Membership.valid_to > tx.c.started_at)))
    rows = session.execute(query.order_by(tx.c.tx_id)).mappings()
    return [{"transaction_id": int(r["tx_id"]), "kind": r["tx_kind"], "occurred_on": r["tx_date"].isoformat(),
             "service_record_id": r["record_id"], "volunteer_id": r["volunteer_id"],
             "service_started_at": r["started_at"].isoformat(), "minutes": int(r["minutes"]),
             "points": int(r["points"])} for r in rows]
