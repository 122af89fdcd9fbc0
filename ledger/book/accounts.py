"""Accounts (账户) of the ledger: one per owner, kind and unit of measure.

Units of measure: MIN (hours, in whole minutes) and PTS (points, whole points).
Volunteer accounts may never go below zero; the database enforces it by a CHECK.
"""
from __future__ import annotations

from sqlalchemy import bindparam, event, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.book.tables import Account
from ledger.store.session_state import session_state
from ledger.store.tables import utcnow

MINUTES = "MIN"
POINTS = "PTS"

# kind -> (unit of measure, may it go negative?)
KINDS: dict[str, tuple[str, bool]] = {
    "volunteer_minutes": (MINUTES, False),  # hours served by a volunteer (时长)
    "volunteer_points": (POINTS, False),  # spendable points (积分)
    "volunteer_points_held": (POINTS, False),  # points held for a reservation
    "unit_minutes_served": (MINUTES, True),  # hours served at a unit: the counter-side
    "unit_points_issued": (POINTS, True),  # points a unit issued: its liability
    "desk_points_redeemed": (POINTS, True),  # points spent at a desk (积分兑换点)
    "system_points_expired": (POINTS, True),  # points that expired
    "deployment_minutes": (MINUTES, True),  # hours carried in/out from another deployment
    "deployment_points": (POINTS, True),  # points carried in/out from another deployment
}


def remember_kind(session: Session, account: int, kind: str) -> None:
    """Note an account's kind for the rest of the session (kinds never change)."""
    session_state(session).account_kinds[account] = kind


def known_kind(session: Session, account: int) -> str | None:
    """The kind of an account looked up earlier in this session, if any."""
    return session_state(session).account_kinds.get(account)


def is_counter_kind(kind: str | None) -> bool:
    """True for the counter-side accounts (units, desks, system) that may go negative."""
    return kind is not None and KINDS[kind][1]


def account_id(session: Session, kind: str, owner_id: int) -> int:
    """The id of the (kind, owner) account, creating it on first use (race-safe)."""
    found = session.execute(
        select(Account.id).where(Account.kind == kind, Account.owner_id == owner_id)
    ).scalar_one_or_none()
    if found is not None:
        remember_kind(session, found, kind)
        return found
    uom, may_be_negative = KINDS[kind]
    values = dict(kind=kind, owner_id=owner_id, uom=uom, is_non_negative=not may_be_negative,
                  balance=0)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(Account).values(**values, created_at=utcnow()).on_conflict_do_nothing(
            index_elements=["kind", "owner_id"]
        )
    )
    created = session.execute(
        select(Account.id).where(Account.kind == kind, Account.owner_id == owner_id)
    ).scalar_one()
    remember_kind(session, created, kind)
    return created


def account_ids(session: Session, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The ids of several (kind, owner) accounts in one query, opening any missing ones."""
    keys = list(dict.fromkeys(wanted))
    found = {(kind, int(owner)): int(id_) for kind, owner, id_ in session.execute(
        select(Account.kind, Account.owner_id, Account.id)
        .where(tuple_(Account.kind, Account.owner_id).in_(keys))).all()}
    for kind, owner_id in keys:
        if (kind, owner_id) not in found:
            found[(kind, owner_id)] = account_id(session, kind, owner_id)
        remember_kind(session, found[(kind, owner_id)], kind)
    return found


_ADD_DEFERRED = (update(Account).where(Account.id == bindparam("account"))
                 .values(balance=Account.balance + bindparam("amount")))


def defer_balance(session: Session, account: int, amount: int) -> None:
    """Add to a counter-side balance at the end of this database transaction (before COMMIT)."""
    pending = session_state(session).deferred_balances
    pending[account] = pending.get(account, 0) + amount


@event.listens_for(Session, "before_commit")
def apply_deferred_balances(session: Session) -> None:
    """Write this transaction's deferred balance changes, in account order, just before COMMIT."""
    state = session_state(session)
    pending, state.deferred_balances = state.deferred_balances, {}
    if not pending:
        return
    session.flush()
    for account in sorted(pending):
        if pending[account]:
            session.connection().execute(_ADD_DEFERRED, {"account": account, "amount": pending[account]})


@event.listens_for(Session, "after_rollback")
def _forget_deferred_balances(session: Session) -> None:
    session_state(session).deferred_balances = {}


def balance(session: Session, kind: str, owner_id: int) -> int:
    """The cached balance of an account (0 when it does not exist yet)."""
    if is_counter_kind(kind):  # its change in this transaction may still be pending
        apply_deferred_balances(session)
    value = session.execute(
        select(Account.balance).where(Account.kind == kind, Account.owner_id == owner_id)
    ).scalar_one_or_none()
    return int(value or 0)


def balances_of(session: Session, owner_id: int, kinds: list[str]) -> dict[str, int]:
    """Cached balances of several accounts of one owner, 0 for those not yet opened."""
    if any(is_counter_kind(kind) for kind in kinds):
        apply_deferred_balances(session)
    rows = session.execute(
        select(Account.kind, Account.balance).where(
            Account.owner_id == owner_id, Account.kind.in_(kinds)
        )
    ).all()
    found = {kind: int(value) for kind, value in rows}
    return {kind: found.get(kind, 0) for kind in kinds}
