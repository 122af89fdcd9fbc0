"""Point expiry (积分过期): points expire by the rule of the policy version that awarded them.

A volunteer's earned points form lots by expiry date (the default policy: points earned in
a year may be spent until the end of the following year).  Everything taken out of the
points (redemptions, transfers out, expiries already posted) consumes the soonest-expiring
lots first (先到期先扣), so what is left of the lots that ended before a date is exactly what
expires then (`ledger.policy.expiring_points`).  One `expiry` transaction per volunteer per
period (key `expiry:{period}:{volunteer}`), never below zero; a second run finds nothing.

Earning kinds are service, rating, complaint and adjustment, and reversals of them (dated
by the original).  Other positive amounts (a cancelled redemption, a release of held points)
only reduce what was taken out; any excess (points carried in from another deployment)
counts as a lot that never expires.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ledger.book.accounts import POINTS, account_id, balance
from ledger.book.postings import Leg, post
from ledger.book.tables import Account, Posting, Transaction, TransactionKey
from ledger.incentives import pricing
from ledger.incentives.policy import PointLot, Policy, expiring_points
from ledger.people.tables import Volunteer
from ledger.people.volunteers import lock_volunteer

EARNING_KINDS = frozenset({"service", "rating", "complaint", "adjustment"})


def point_lots_of(session: Session, volunteer_id: int) -> tuple[list[PointLot], int]:
    """The volunteer's earned lots by expiry date, and the total ever taken out."""
    original, original_key = aliased(Transaction), aliased(TransactionKey)
    rows = session.execute(
        select(Posting.amount, Transaction.kind, Transaction.occurred_on, Transaction.policy_version_id,
               original.kind, original.occurred_on)
        .join(Transaction, (Transaction.id == Posting.transaction_id)
              & (Transaction.occurred_on == Posting.occurred_on))
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(original_key, original_key.transaction_id == Transaction.reverses_id)
        .outerjoin(original, (original.id == original_key.transaction_id)
                   & (original.occurred_on == original_key.occurred_on))
        .where(Account.kind == "volunteer_points", Account.owner_id == volunteer_id)
    ).all()
    policies: dict[int | None, Policy] = {}
    lots: dict[dt.date | None, int] = defaultdict(int)
    other = 0
    for amount, kind, occurred_on, version_id, original_kind, original_on in rows:
        earned_kind, earned_on = (original_kind, original_on) if original_kind else (kind, occurred_on)
        if earned_kind not in EARNING_KINDS:
            other += int(amount)
            continue
        if version_id not in policies:
            policies[version_id] = pricing.policy_of_version(session, version_id)
        lots[policies[version_id].expiry_date(earned_on)] += int(amount)
    for expires_on, points in list(lots.items()):
        if points < 0:  # a lot net negative (a later correction): it is taken out like a debit
            other += points
            del lots[expires_on]
    if other > 0:
        lots[None] += other
        other = 0
    return [PointLot(expires_on, points) for expires_on, points in lots.items() if points], -other


def expirable_points(session: Session, volunteer_id: int, as_of: dt.date) -> int:
    """Points whose last day was before `as_of` and are still unspent (oldest first), at most the balance."""
    lots, debits = point_lots_of(session, volunteer_id)
    return min(expiring_points(lots, debits, as_of), balance(session, "volunteer_points", volunteer_id))


def expire_points(session: Session, as_of: dt.date, period: str, actor: str = "system") -> dict:
    """Expire, for every volunteer with points, what ended before `as_of`; keyed by period."""
    volunteer_ids = session.execute(
        select(Account.owner_id).where(Account.kind == "volunteer_points", Account.balance > 0)
        .order_by(Account.owner_id)).scalars().all()
    expired, total = 0, 0
    for volunteer_id in volunteer_ids:
        key = f"expiry:{period}:{volunteer_id}"
        if session.execute(select(TransactionKey.transaction_id).where(TransactionKey.idempotency_key == key)).first():
            continue  # this period already expired this volunteer's points
        lock_volunteer(session, volunteer_id)
        points = expirable_points(session, volunteer_id, as_of)
        if points > 0:
            _post_expiry(session, volunteer_id, points, as_of, period, actor)
            expired, total = expired + 1, total + points
    return {"period": period, "as_of": as_of.isoformat(), "volunteers": expired, "points": total}


def _post_expiry(session: Session, volunteer_id: int, points: int, as_of: dt.date, period: str,
                 actor: str) -> Transaction:
    home_unit_id = session.execute(select(Volunteer.home_unit_id).where(Volunteer.id == volunteer_id)).scalar_one()
    county = pricing.ancestors(session, home_unit_id)[-1]
    version, _policy = pricing.policy_in_force(session, home_unit_id, as_of)
    legs = [Leg(account_id(session, "volunteer_points", volunteer_id), POINTS, -points, volunteer_id, home_unit_id),
            Leg(account_id(session, "system_points_expired", county), POINTS, points, volunteer_id, county)]
    return post(session, kind="expiry", key=f"expiry:{period}:{volunteer_id}",
                occurred_on=as_of - dt.timedelta(days=1), actor=actor, legs=legs, volunteer_id=volunteer_id,
                unit_id=home_unit_id, policy_version_id=version.id if version else None,
                memo=f"{points} 积分于 {as_of.isoformat()} 前到期（先到期的先扣）")
