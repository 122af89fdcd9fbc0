"""The ranking itself, in SQL: aggregation of postings at a ledger position, then window functions.

Level 0 sums the postings on the volunteers' own hours and points accounts per transaction,
reading only the postings of the subtree's units from the period's first day on, at
transactions.id <= position.  Level 1 sums, per service record (服务记录), the transactions
that name it (service, rating bonus, complaint, adjustment, reversal).  The period is the
record's service date, so a reversal posted later takes the record out of the period it was
served in — but only when the reversal is at or before the position.  Level 2 groups by
subject (volunteer or team); levels 3 to 5 (eligibility facts, rank, quota) are in
`ledger.rankings.rank_sql`.  A run "as of" a cut-off date (截至日期) counts the services up to
that day only (`counted_to`), the rest of the period as if it had not happened yet.

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

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    any_,
    case,
    cast,
    column,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from ledger.book.accounts import KINDS as ACCOUNT_KINDS, MINUTES, POINTS
from ledger.book.tables import Account, Posting, Transaction
from ledger.people.tables import Membership, Unit
from ledger.rankings.definitions import rule, tie_break_keys
from ledger.rankings.tables import RankingRun
from ledger.service.tables import Activity, ServiceRecord

KINDS = ("volunteer_minutes", "volunteer_points")
# every other kind of account (counter-side, held points): few rows, excluded by a hashed NOT IN
OTHER_KINDS = tuple(kind for kind in ACCOUNT_KINDS if kind not in KINDS)


def _root(session: Session, unit_id: int) -> Unit:
    return session.get(Unit, unit_id)


def counted_to(run) -> dt.date:
    """The last service day a run (or a report's window) counts: its cut-off (截至日期) if it has
    one, else its period's last day."""
    return getattr(run, "cutoff_on", None) or run.period_end


class day_of(FunctionElement):
    """The calendar day of a timestamp column, as a DATE (SQLite: `date(x)`, 'YYYY-MM-DD' text)."""

    type = Date()
    inherit_cache = True
    name = "day_of"


@compiles(day_of)
def _day_of(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(day_of, "sqlite")
def _day_of_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


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
                   ServiceRecord.started_at < _day_after(counted_to(run))))


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
    in_window = case((Transaction.reverses_id.is_(None), Posting.occurred_on <= counted_to(run)),
                     else_=and_(started.scalar_subquery() >= first,
                                started.scalar_subquery() < _day_after(counted_to(run))))
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
        _complained(run).label("complained"), day_of(ServiceRecord.started_at).label("served_on"),
    ).select_from(by_record).join(ServiceRecord, ServiceRecord.id == by_record.c.record_id).where(
        units.contains(ServiceRecord.unit_id), ServiceRecord.started_at >= dt.datetime.combine(first, dt.time()),
        ServiceRecord.started_at < _day_after(counted_to(run))).subquery("rec")


def _complained(run: RankingRun):
    """1 when an upheld complaint (投诉) against the record was posted at or before the position
    (the flag on the record, and its `complaint` transaction: an index lookup for those alone)."""
    complaint_tx = aliased(Transaction, name="complaint_tx")
    first = (select(func.min(complaint_tx.id)).where(complaint_tx.service_record_id == ServiceRecord.id,
                                                     complaint_tx.kind == "complaint").scalar_subquery())
    return case((and_(ServiceRecord.complaint_upheld.is_(True), first <= run.ledger_position), 1), else_=0)


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


def _subject_rows(doc: dict, units: Subtree, run: RankingRun):
    """Level 1 rows with their subject, and — when the definition breaks ties by the day the
    thresholds were met — the subject's running minutes and points in service order (the
    window is computed only then: it sorts every record)."""
    rec = per_record(units, run)
    subject, join = _subject_key(doc, rec)
    columns = [rec, subject.label("subject_id")]
    if any(name == "threshold_reached" for name, _ in tie_break_keys(doc)):
        rules = doc["eligibility"]
        basis = (rec.c.in_period == 1) if rules["min_hours_basis"] == "period" else true()
        order = (rec.c.started_at, rec.c.record_id)
        running_minutes = func.sum(case((basis, rec.c.minutes), else_=0)).over(partition_by=subject, order_by=order)
        running_points = func.sum(case((basis, rec.c.points), else_=0)).over(partition_by=subject, order_by=order)
        reached = and_(basis, running_minutes >= rules["min_minutes"], running_points >= rule(rules, "min_points"))
        columns.append(case((reached, 1), else_=0).label("reached"))
    else:
        columns.append(literal(0).label("reached"))
    query = select(*columns).select_from(rec)
    if join is not None:
        target = Activity if join[0] == "activity" else Membership
        query = query.join(target, join[1]).where(subject.is_not(None))
    return query.subquery("rows")


def per_subject(doc: dict, units: Subtree, run: RankingRun):
    """Level 2: the figures of each subject that has a transaction in the period (to the cut-off)."""
    rec = _subject_rows(doc, units, run)
    in_period = rec.c.in_period == 1
    counted = and_(in_period, rec.c.minutes > 0)
    # a 评单 counts once its `rating` transaction is at or before the position (even a zero bonus)
    is_rated = and_(counted, rec.c.rated == 1)
    return (select(
        rec.c.subject_id,
        int_sum(case((in_period, rec.c.minutes), else_=0)).label("minutes"),
        int_sum(rec.c.minutes).label("year_minutes"),
        int_sum(case((in_period, rec.c.points), else_=0)).label("points"),
        int_sum(rec.c.points).label("year_points"),
        func.count(func.distinct(case((counted, rec.c.activity_id), else_=null()))).label("activities"),
        int_sum(case((is_rated, rec.c.rating), else_=0)).label("rating_sum"),
        int_sum(case((is_rated, 1), else_=0)).label("rating_count"),
        int_sum(case((in_period, rec.c.n_tx), else_=0)).label("tx_count"),
        func.max(case((in_period, rec.c.has_reversal), else_=0)).label("has_reversal"),
        int_sum(case((and_(in_period, rec.c.complained == 1), 1), else_=0)).label("upheld_complaints"),
        func.max(case((counted, rec.c.served_on), else_=null())).label("last_service_on"),
        func.min(case((rec.c.reached == 1, rec.c.served_on), else_=null())).label("threshold_on"),
    ).group_by(rec.c.subject_id)
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
    rows = [tuple(row) for row in session.execute(pairs.order_by(inner.c.id))]
    if not rows:  # a unit without children (a station): VALUES (NULL, NULL) would be text, not integer
        return pairs.subquery("unit_group")
    return values(column("unit_id", Integer), column("group_id", Integer), name="unit_group").data(rows)


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
