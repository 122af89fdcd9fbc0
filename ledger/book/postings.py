"""Posting transactions: balanced, integer, append-only, idempotent by key.

Every transaction's postings sum to zero per unit of measure; amounts are integers
(minutes, points).  The cached balance of each account is updated in the same database
transaction.  A correction is a reversal that names the original; a reversal cannot be
reversed, and nothing is reversed twice (the unique `transaction_keys.reverses_id` backs this).

Every transaction has its row in `transaction_keys` (its id, idempotency key, date and the
transaction it reverses), written in the same database transaction: on PostgreSQL
`transactions` is partitioned by month (revision 0015) and can keep no ledger-wide unique
key itself.  Reads by key or by id go through that row, which names the transaction's date
and so its one partition.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.book.accounts import defer_balance, is_counter_kind, known_kind
from ledger.book.hashing import content_hash
from ledger.book.keys import book_keys
from ledger.book.tables import Account, Posting, Transaction, TransactionKey
from ledger.book.year_minutes import VolunteerYearMinutes
from ledger.errors import AlreadyReversed, Conflict, IdempotencyConflict, InsufficientPoints, NotFound
from ledger.store.tables import utcnow

HOURS_KIND = "volunteer_minutes"  # the account kind whose postings `volunteer_year_minutes` caches

# The statements of every posting, built once (building a statement costs more than running it).
_TX = Transaction.__table__
_KEYS = TransactionKey.__table__
# a key is looked up in the plain key table alone (most writes are new: one index probe); only
# a repeat reads its transaction, by id and date (one month's partition)
_BY_KEY = select(_KEYS.c.transaction_id, _KEYS.c.occurred_on).where(_KEYS.c.idempotency_key == bindparam("key"))
_INSERT_KEY = insert(_KEYS)
_DATE_OF = select(_KEYS.c.occurred_on).where(_KEYS.c.transaction_id == bindparam("id"))
_INSERT_POSTINGS = insert(Posting.__table__)
_ADD = (update(Account).where(Account.id == bindparam("account"))
        .values(balance=Account.balance + bindparam("amount")).returning(Account.kind, Account.owner_id))
_TAKE = _ADD.where((Account.is_non_negative.is_(False)) | (Account.balance + bindparam("amount") >= 0))


@dataclass(frozen=True)
class Leg:
    """One posting to be made: an integer amount into (+) or out of (−) an account."""

    account_id: int
    uom: str
    amount: int
    volunteer_id: int | None = None
    unit_id: int | None = None


def check_balanced(legs: list[Leg]) -> None:
    """Refuse a set of postings that does not sum to zero per unit of measure."""
    sums: dict[str, int] = defaultdict(int)
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise Conflict("amounts are whole integers (minutes, points)", field="amount")
        sums[leg.uom] += leg.amount
    unbalanced = {uom: total for uom, total in sums.items() if total != 0}
    if unbalanced:
        raise Conflict(f"postings do not balance: {unbalanced}", field="postings")


def post(
    session: Session,
    *,
    kind: str,
    key: str,
    occurred_on: dt.date,
    actor: str,
    legs: list[Leg],
    volunteer_id: int | None = None,
    unit_id: int | None = None,
    policy_version_id: int | None = None,
    reverses_id: int | None = None,
    service_record_id: int | None = None,
    memo: str = "",
) -> Transaction:
    """Post one balanced transaction; a repeat with the same key returns the first one."""
    legs = [leg for leg in legs if leg.amount != 0]
    check_balanced(legs)
    tx = dict(kind=kind, idempotency_key=key, occurred_on=occurred_on, actor=actor,
              volunteer_id=volunteer_id, unit_id=unit_id, policy_version_id=policy_version_id,
              reverses_id=reverses_id, service_record_id=service_record_id, memo=memo)
    digest = content_hash(book_keys(session).ledger_key, tx, legs)
    existing = session.connection().execute(_BY_KEY, {"key": key}).first()
    if existing is not None:
        first = _transaction_on(session, existing.transaction_id, existing.occurred_on)
        if first is None or first.content_hash != digest:
            raise IdempotencyConflict(
                f"transaction key {key!r} was already used for different postings", field="idempotency_key"
            )
        return first
    row = Transaction(**tx, content_hash=digest, recorded_at=utcnow())
    session.add(row)
    session.flush()
    session.connection().execute(_INSERT_KEY, {"transaction_id": row.id, "idempotency_key": key,
                                               "occurred_on": occurred_on, "reverses_id": reverses_id})
    if legs:
        session.connection().execute(_INSERT_POSTINGS, [
            dict(transaction_id=row.id, account_id=leg.account_id, uom=leg.uom, amount=leg.amount,
                 volunteer_id=leg.volunteer_id, unit_id=leg.unit_id, occurred_on=occurred_on)
            for leg in legs
        ])
        owners = apply_to_balances(session, legs)
        year_minutes: dict[tuple[int, int], int] = defaultdict(int)
        for leg in legs:
            kind, owner_id = owners.get(leg.account_id, (None, None))
            if kind == HOURS_KIND:
                year_minutes[(owner_id, occurred_on.year)] += leg.amount
        add_year_minutes(session, year_minutes)
    return row


def get_transaction(session: Session, transaction_id: int) -> Transaction | None:
    """One transaction by id, read from its month only (its date comes from its key row)."""
    occurred_on = session.connection().execute(_DATE_OF, {"id": transaction_id}).scalar()
    return None if occurred_on is None else _transaction_on(session, transaction_id, occurred_on)


def _transaction_on(session: Session, transaction_id: int, occurred_on: dt.date) -> Transaction | None:
    return session.execute(select(Transaction).where(
        Transaction.id == transaction_id, Transaction.occurred_on == occurred_on)).scalar_one_or_none()


def apply_to_balances(session: Session, legs: list[Leg]) -> dict[int, tuple[str, int]]:
    """Add the legs to the cached balances; a volunteer balance below zero is refused.

    Returns each account's (kind, owner id), read back by the same UPDATE.  Counter-side
    accounts (a unit's, a desk's: every writer in a county touches the same few rows) are
    updated at the end of the database transaction instead, just before COMMIT
    (`apply_deferred_balances`): the row lock that serialises those writers is then held for
    the commit alone, not for the rest of the use case.  Same transaction, same result.
    """
    totals: dict[int, int] = defaultdict(int)
    for leg in legs:
        totals[leg.account_id] += leg.amount
    owners: dict[int, tuple[str, int]] = {}
    may_defer = not session.in_nested_transaction()
    for account_id in sorted(totals):  # a fixed order: no deadlocks between writers
        amount = totals[account_id]
        if may_defer and is_counter_kind(known_kind(session, account_id)):
            defer_balance(session, account_id, amount)
            continue
        try:
            # Core, not the ORM's bulk UPDATE: no Account objects to keep in step here
            found = session.connection().execute(_TAKE if amount < 0 else _ADD,
                                                 {"account": account_id, "amount": amount}).first()
        except IntegrityError as exc:  # the CHECK constraint, the last line of defence
            raise InsufficientPoints("balance would go below zero", field="amount") from exc
        if found is None:
            raise InsufficientPoints("balance would go below zero", field="amount",
                                     account_id=account_id)
        owners[account_id] = (found[0], int(found[1]))
    return owners


def add_year_minutes(session: Session, deltas: dict[tuple[int, int], int]) -> None:
    """Add minutes to `volunteer_year_minutes` per (volunteer, year), creating rows as needed.

    Called after the balances are updated, in (volunteer, year) order: a writer holds the
    volunteer's hours account row by then, so two writers never wait on each other here.
    """
    rows = [dict(volunteer_id=volunteer_id, year=year, minutes=minutes)
            for (volunteer_id, year), minutes in sorted(deltas.items()) if minutes]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if len(rows) == 1:  # one posting's year: the statement built once
        session.connection().execute(_ADD_YEAR_MINUTES[dialect], rows[0])
        return
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    for start in range(0, len(rows), 5000):  # bound variables: under SQLite's limit
        stmt = upsert(VolunteerYearMinutes).values(rows[start:start + 5000])
        session.execute(stmt.on_conflict_do_update(
            index_elements=[VolunteerYearMinutes.volunteer_id, VolunteerYearMinutes.year],
            set_={"minutes": VolunteerYearMinutes.minutes + stmt.excluded.minutes}))


def _add_year_minutes_statement(upsert):
    table = VolunteerYearMinutes.__table__
    stmt = upsert(table)
    return stmt.on_conflict_do_update(index_elements=[table.c.volunteer_id, table.c.year],
                                      set_={"minutes": table.c.minutes + stmt.excluded.minutes})


_ADD_YEAR_MINUTES = {"postgresql": _add_year_minutes_statement(pg_insert),
                     "sqlite": _add_year_minutes_statement(sqlite_insert)}


def legs_of(session: Session, transaction_id: int, occurred_on: dt.date | None = None) -> list[Leg]:
    """The postings of a transaction, as legs (`occurred_on`, its date: one partition read)."""
    query = select(Posting).where(Posting.transaction_id == transaction_id)
    if occurred_on is not None:
        query = query.where(Posting.occurred_on == occurred_on)
    rows = session.execute(query.order_by(Posting.id)).scalars()
    return [Leg(p.account_id, p.uom, int(p.amount), p.volunteer_id, p.unit_id) for p in rows]


def reverse(
    session: Session,
    original_id: int,
    *,
    actor: str,
    occurred_on: dt.date,
    memo: str,
    kind: str = "reversal",
) -> Transaction:
    """Post the exact opposite of a transaction, naming it; refused for a reversal or twice."""
    original = get_transaction(session, original_id)
    if original is None:
        raise NotFound(f"transaction {original_id} does not exist", field="transaction_id")
    if original.reverses_id is not None:
        raise Conflict("a reversal cannot itself be reversed; post a new transaction instead",
                       field="transaction_id")
    if is_reversed(session, original_id):
        raise AlreadyReversed(f"transaction {original_id} is already reversed", field="transaction_id")
    legs = [Leg(l.account_id, l.uom, -l.amount, l.volunteer_id, l.unit_id)
            for l in legs_of(session, original_id, original.occurred_on)]
    return post(session, kind=kind, key=f"reverse:{original_id}", occurred_on=occurred_on, actor=actor,
                legs=legs, volunteer_id=original.volunteer_id, unit_id=original.unit_id,
                policy_version_id=original.policy_version_id, reverses_id=original_id,
                service_record_id=original.service_record_id, memo=memo)


def is_reversed(session: Session, transaction_id: int) -> bool:
    """True when a reversal of this transaction has been posted."""
    return session.execute(
        select(TransactionKey.transaction_id).where(TransactionKey.reverses_id == transaction_id)
    ).first() is not None


def reversed_among(session: Session, transaction_ids) -> set[int]:
    """Which of these transactions have been reversed (one keyed read of `transaction_keys`)."""
    ids = list(transaction_ids)
    if not ids:
        return set()
    return set(session.execute(select(TransactionKey.reverses_id).where(
        TransactionKey.reverses_id.in_(ids))).scalars())


def ledger_position(session: Session) -> int:
    """The id of the newest transaction: a position that later reads can be pinned to."""
    value = session.execute(select(TransactionKey.transaction_id)
                            .order_by(TransactionKey.transaction_id.desc()).limit(1)).scalar()
    return int(value or 0)
