"""A volunteer's figures: hours, points, star level, and their history in the ledger.

Reads come from cached balances (one row each), so a summary costs the same whatever the
length of the volunteer's history: one statement reads the volunteer, their unit's path (for
the scope check), balances, minutes this year, star level and the newest policy version; the
policy in force comes from a per-process cache keyed on that newest version.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, Integer, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from ledger.book.amounts import hours_text  # noqa: F401  (re-exported: the figures use it)
from ledger.book.tables import Account, Posting, Transaction, TransactionKey
from ledger.book.year_minutes import VolunteerYearMinutes
from ledger.errors import NotFound
from ledger.incentives.pricing import policy_in_force_cached
from ledger.incentives.stars import minutes_to_next_star
from ledger.incentives.tables import PolicyVersion, StarEvent
from ledger.people.access import Principal, in_scope, require_volunteer
from ledger.people.tables import Unit, Volunteer
from ledger.people.volunteers import volunteer_public
from ledger.service.tables import Activity, ServiceRecord

VOLUNTEER_ACCOUNTS = ["volunteer_minutes", "volunteer_points", "volunteer_points_held"]


_VOLUNTEER_COLUMNS = ("id", "number", "name", "id_type", "id_masked", "phone_masked", "is_party_member",
                      "registered_on", "home_unit_id", "status")


def _balance(kind: str):
    return (select(Account.balance).where(Account.kind == kind, Account.owner_id == bindparam("volunteer_id"))
            .scalar_subquery())


# One row: the volunteer, the path of their home unit, the three balances, this year's minutes,
# the last star level and the newest policy version (the key of the policy cache).  Each part
# is one index probe, so its cost does not grow with the history.  Built once: SQLAlchemy
# compiles it once, and psycopg prepares it on a connection after a few uses.
SUMMARY_ROW = select(
    *(getattr(Volunteer, name) for name in _VOLUNTEER_COLUMNS),
    select(Unit.path).where(Unit.id == Volunteer.home_unit_id).scalar_subquery().label("unit_path"),
    *(_balance(kind).label(kind) for kind in VOLUNTEER_ACCOUNTS),
    select(VolunteerYearMinutes.minutes).where(VolunteerYearMinutes.volunteer_id == bindparam("volunteer_id"),
                                               VolunteerYearMinutes.year == bindparam("year"))
    .scalar_subquery().label("minutes_this_year"),
    select(StarEvent.level_after).where(StarEvent.volunteer_id == bindparam("volunteer_id"))
    .order_by(StarEvent.id.desc()).limit(1).scalar_subquery().label("star_level"),
    select(func.max(PolicyVersion.id)).scalar_subquery().label("newest_policy_id"),
    select(PolicyVersion.content_hash).order_by(PolicyVersion.id.desc()).limit(1)
    .scalar_subquery().label("newest_policy_hash"),
).where(Volunteer.id == bindparam("volunteer_id"))


def _may_see(principal: Principal, volunteer_id: int, unit_path: str | None) -> bool:
    """`access.can_see_volunteer` with the home unit's path already read."""
    if principal.role == "volunteer":
        return principal.volunteer_id == volunteer_id
    return in_scope(principal, unit_path or "")


def _not_found(volunteer_id: int) -> NotFound:
    """The answer of `access.require_volunteer` for a volunteer missing or out of scope."""
    return NotFound(f"志愿者 {volunteer_id} 不存在或不在您的管辖范围 "
                    f"(volunteer {volunteer_id} not found or outside your scope)", field="volunteer_id")


def volunteer_summary(session: Session, principal: Principal, volunteer_id: int, today: dt.date) -> dict:
    """Total hours, hours this year, points (spendable and held), star level and next star.

    One statement (`SUMMARY_ROW`); the policy in force for the star rules comes from the
    process cache (`pricing.policy_in_force_cached`), read again only when a version is new.
    """
    row = session.connection().execute(SUMMARY_ROW, {"volunteer_id": volunteer_id, "year": today.year}).one_or_none()
    if row is None or not _may_see(principal, volunteer_id, row.unit_path):
        raise _not_found(volunteer_id)
    volunteer = Volunteer(**{name: getattr(row, name) for name in _VOLUNTEER_COLUMNS})  # transient: shown only
    total, this_year = int(row.volunteer_minutes or 0), int(row.minutes_this_year or 0)
    _version_id, policy = policy_in_force_cached(session, row.home_unit_id, today,
                                                 (row.newest_policy_id, row.newest_policy_hash), row.unit_path)
    # from the level shown (the last star event), so that the two agree
    to_next = minutes_to_next_star(policy, total, this_year, row.registered_on, today, level=int(row.star_level or 0))
    return {
        "volunteer": volunteer_public(volunteer),
        "minutes_total": total, "hours_total": hours_text(total),
        "minutes_this_year": this_year, "hours_this_year": hours_text(this_year),
        "points": int(row.volunteer_points or 0), "points_held": int(row.volunteer_points_held or 0),
        "star_level": int(row.star_level or 0),
        "minutes_to_next_star": to_next,
    }


_OWN_AMOUNTS = {"volunteer_minutes": "minutes", "volunteer_points": "points",
                "volunteer_points_held": "points_held"}


def _history_statement(after_anchor: bool):
    """The page of `volunteer_history` as one statement (bind: volunteer_id, page_size[, anchor, before_id]).

    The page (a CTE), each transaction's activity title, its amounts on each of the volunteer's
    three accounts, and the home unit's path for the scope check on every row.

    The amounts come from the volunteer's postings (`postings.volunteer_id`, indexed with the
    business date) dated within the page's first and last dates: a posting's date is its
    transaction's, so that is every posting of the page, plus those of any other transaction on
    the page's oldest date.  The cost is the page's whatever the history's length (reading the
    page's postings by account started from all 50,000 of the long history's account: 39 ms),
    and where postings are partitioned by month (PostgreSQL, revision 0013) the date range
    leaves only the page's months to read, found when the statement runs.  Per-row subqueries
    probed every month's partition in the plan's cost (418,000 at 51 months), which set off
    JIT compilation: 480 ms a page.
    """
    volunteer_id = bindparam("volunteer_id", type_=Integer)
    page = select(Transaction.id, Transaction.kind, Transaction.occurred_on, Transaction.recorded_at,
                  Transaction.memo, Transaction.service_record_id, Transaction.unit_id, Transaction.reverses_id,
                  Transaction.policy_version_id).where(Transaction.volunteer_id == volunteer_id)
    if after_anchor:
        anchor, before_id = bindparam("anchor", type_=Date), bindparam("before_id", type_=BigInteger)
        page = page.where(or_(Transaction.occurred_on < anchor,
                              and_(Transaction.occurred_on == anchor, Transaction.id < before_id)))
    page = (page.order_by(Transaction.occurred_on.desc(), Transaction.id.desc())
            .limit(bindparam("page_size", type_=Integer)).cte("page"))

    def own_amount(kind: str):
        account = (select(Account.id).where(Account.kind == kind, Account.owner_id == volunteer_id)
                   .scalar_subquery())
        return func.sum(case((Posting.account_id == account, Posting.amount), else_=0))

    own = (select(Posting.transaction_id.label("transaction_id"),
                  *(own_amount(kind).label(name) for kind, name in _OWN_AMOUNTS.items()))
           .where(Posting.volunteer_id == volunteer_id,
                  Posting.occurred_on >= select(func.min(page.c.occurred_on)).scalar_subquery(),
                  Posting.occurred_on <= select(func.max(page.c.occurred_on)).scalar_subquery())
           .group_by(Posting.transaction_id).subquery("own"))
    home_unit = select(Volunteer.home_unit_id).where(Volunteer.id == volunteer_id).scalar_subquery()
    home_path = select(Unit.path).where(Unit.id == home_unit).scalar_subquery()
    return (select(page, Activity.title, *(own.c[name] for name in _OWN_AMOUNTS.values()),
                   home_path.label("home_path"))
            .select_from(page)
            .outerjoin(ServiceRecord, ServiceRecord.id == page.c.service_record_id)
            .outerjoin(Activity, Activity.id == ServiceRecord.activity_id)
            .outerjoin(own, own.c.transaction_id == page.c.id)
            .order_by(page.c.occurred_on.desc(), page.c.id.desc()))


HISTORY_FIRST_PAGE = _history_statement(after_anchor=False)  # built once: compiled once, then prepared
HISTORY_NEXT_PAGE = _history_statement(after_anchor=True)


def volunteer_history(session: Session, principal: Principal, volunteer_id: int, *, limit: int = 50,
                      before_id: int | None = None) -> dict:
    """The volunteer's transactions, newest service date first, with the amounts on their own accounts.

    Paginated by ledger position: pass the `next_before_id` of one page to get the next.
    One statement (`HISTORY_FIRST_PAGE`) reads the page, each transaction's activity title and
    own amounts, and the home unit's path for the scope check (checked before anything is
    returned); an empty page costs a second, small one to tell "no history" from "not found".
    """
    limit = max(1, min(limit, 200))
    given = {"volunteer_id": volunteer_id, "page_size": limit + 1}
    statement = HISTORY_FIRST_PAGE
    if before_id is not None:
        anchor = session.execute(select(TransactionKey.occurred_on)
                                 .where(TransactionKey.transaction_id == before_id)).scalar()
        if anchor is not None:
            statement, given = HISTORY_NEXT_PAGE, {**given, "anchor": anchor, "before_id": before_id}
    rows = session.connection().execute(statement, given).all()
    if not rows:
        require_volunteer(session, principal, volunteer_id)
        return {"items": [], "next_before_id": None}
    if not _may_see(principal, volunteer_id, rows[0].home_path):
        raise _not_found(volunteer_id)
    more, rows = len(rows) > limit, rows[:limit]
    items = [{
        "transaction_id": r.id, "kind": r.kind, "occurred_on": r.occurred_on.isoformat(),
        "recorded_at": r.recorded_at.isoformat(), "memo": r.memo,
        "service_record_id": r.service_record_id,
        "activity": r.title if r.service_record_id else None,
        "unit_id": r.unit_id, "reverses_id": r.reverses_id, "policy_version_id": r.policy_version_id,
        **{name: int(getattr(r, name) or 0) for name in _OWN_AMOUNTS.values()},
    } for r in rows]
    return {"items": items, "next_before_id": rows[-1].id if more else None}


def newest_first(session: Session, query, before_id: int | None, limit: int) -> tuple[list[Transaction], bool]:
    """A page of transactions by business date, newest first (then by ledger position).

    `before_id` is the last transaction of the previous page: the page continues after it in
    that order.  Returns (page, whether more follow).
    """
    limit = max(1, min(limit, 200))
    if before_id is not None:
        anchor = session.execute(select(TransactionKey.occurred_on)
                                 .where(TransactionKey.transaction_id == before_id)).scalar()
        if anchor is not None:
            query = query.where(or_(Transaction.occurred_on < anchor,
                                    and_(Transaction.occurred_on == anchor, Transaction.id < before_id)))
    txs = session.execute(query.order_by(Transaction.occurred_on.desc(), Transaction.id.desc())
                          .limit(limit + 1)).scalars().all()
    return txs[:limit], len(txs) > limit


def _own_amounts(session: Session, volunteer_id: int, tx_ids: list[int]) -> dict[int, dict]:
    names = {"volunteer_minutes": "minutes", "volunteer_points": "points",
             "volunteer_points_held": "points_held"}
    result: dict[int, dict] = {tx_id: {"minutes": 0, "points": 0, "points_held": 0} for tx_id in tx_ids}
    if not tx_ids:
        return result
    rows = session.execute(
        select(Posting.transaction_id, Account.kind, Posting.amount)
        .join(Account, Account.id == Posting.account_id)
        .where(Posting.transaction_id.in_(tx_ids), Account.owner_id == volunteer_id,
               Account.kind.in_(list(names)))
    ).all()
    for tx_id, kind, amount in rows:
        result[tx_id][names[kind]] += int(amount)
    return result


def _activity_titles(session: Session, record_ids: list[int]) -> dict[int, str]:
    if not record_ids:
        return {}
    rows = session.execute(
        select(ServiceRecord.id, Activity.title).join(Activity, Activity.id == ServiceRecord.activity_id)
        .where(ServiceRecord.id.in_(record_ids))).all()
    return {record_id: title for record_id, title in rows}


def star_history(session: Session, principal: Principal, volunteer_id: int) -> list[dict]:
    """Every star change of a volunteer, oldest first."""
    require_volunteer(session, principal, volunteer_id)
    events = session.execute(select(StarEvent).where(StarEvent.volunteer_id == volunteer_id)
                             .order_by(StarEvent.id)).scalars()
    return [{"occurred_on": e.occurred_on.isoformat(), "level_before": e.level_before,
             "level_after": e.level_after, "transaction_id": e.transaction_id, "reason": e.reason}
            for e in events]
