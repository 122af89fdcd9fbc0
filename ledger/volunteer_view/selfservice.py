"""What a volunteer sees of themselves (自助查询): figures, history, memberships, redemptions.

Every read goes through `require_volunteer`, so a volunteer token reads only its own
volunteer and an admin only volunteers of their subtree.  `version_tag` is a cheap
fingerprint of everything these reads show, so a client polling with If-None-Match is
answered without computing the body.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.book.postings import reversed_among
from ledger.book.tables import Account, Posting, Transaction
from ledger.incentives.expiry import point_lots_of
from ledger.incentives.policy import open_lots
from ledger.incentives.tables import PolicyVersion, StarEvent
from ledger.people.access import Principal, require_volunteer
from ledger.people.tables import Membership, Team, Unit
from ledger.volunteer_view.lookup import _activity_titles, _own_amounts, hours_text, newest_first, volunteer_summary
from ledger.volunteer_view.tables import Certificate

EXPIRY_WARNING_DAYS = 90


def version_tag(session: Session, principal: Principal, volunteer_id: int, today: dt.date) -> str:
    """A fingerprint that changes whenever anything a self-service read shows may change."""
    require_volunteer(session, principal, volunteer_id)
    tx = session.execute(select(func.max(Transaction.id), func.count(Transaction.id))
                         .where(Transaction.volunteer_id == volunteer_id)).one()
    stars = session.execute(select(func.max(StarEvent.id)).where(StarEvent.volunteer_id == volunteer_id)).scalar()
    members = session.execute(select(func.max(Membership.id), func.count(Membership.valid_to),
                                     func.max(Membership.valid_to))
                              .where(Membership.volunteer_id == volunteer_id)).one()
    certificates = session.execute(select(func.max(Certificate.id))
                                   .where(Certificate.volunteer_id == volunteer_id)).scalar()
    policies = session.execute(select(func.max(PolicyVersion.id))).scalar()
    return (f"{volunteer_id}|{tx[0]}|{tx[1]}|{stars}|{members[0]}|{members[1]}|{members[2]}|{certificates}"
            f"|{policies}|{today}")


def next_expiry(session: Session, volunteer_id: int, today: dt.date) -> dict | None:
    """The soonest points to expire (date and amount), and whether that is soon (within 90 days).

    The lots are those the expiry job uses (`ledger.expiry.point_lots_of`): each award by the
    rule of the policy version that priced it, spending taken from the soonest lot first.
    """
    lots, debits = point_lots_of(session, volunteer_id)
    upcoming = [lot for lot in open_lots(lots, min(debits, sum(lot.points for lot in lots)))
                if lot.expires_on is not None and lot.expires_on >= today]
    if not upcoming:
        return None
    lot = upcoming[0]
    return {"expires_on": lot.expires_on.isoformat(), "points": lot.points,
            "is_soon": (lot.expires_on - today).days <= EXPIRY_WARNING_DAYS}


def summary(session: Session, principal: Principal, volunteer_id: int, today: dt.date) -> dict:
    """Hours, points (spendable, held, expiring soon), star level and the way to the next star."""
    result = volunteer_summary(session, principal, volunteer_id, today)
    volunteer = result["volunteer"]
    home = session.get(Unit, volunteer["home_unit_id"])
    to_next = result["minutes_to_next_star"]
    return {**result, "home_unit": home.name if home else None,
            "hours_to_next_star": None if to_next is None else hours_text(to_next),
            "points_expiring": next_expiry(session, volunteer_id, today)}


def history(session: Session, principal: Principal, volunteer_id: int, *, date_from: dt.date | None = None,
            date_to: dt.date | None = None, kind: str | None = None, limit: int = 20,
            before_id: int | None = None) -> dict:
    """The volunteer's ledger transactions, newest service date first, filtered by date range and kind."""
    require_volunteer(session, principal, volunteer_id)
    query = select(Transaction).where(Transaction.volunteer_id == volunteer_id)
    if date_from is not None:
        query = query.where(Transaction.occurred_on >= date_from)
    if date_to is not None:
        query = query.where(Transaction.occurred_on <= date_to)
    if kind:
        query = query.where(Transaction.kind == kind)
    page, more = newest_first(session, query, before_id, limit)
    return {"items": _items(session, volunteer_id, page),
            "next_before_id": page[-1].id if more and page else None,
            "kinds": history_kinds(session, volunteer_id)}


def history_kinds(session: Session, volunteer_id: int) -> list[str]:
    """The kinds of transaction this volunteer has, for the filter."""
    return sorted(session.execute(select(Transaction.kind).where(Transaction.volunteer_id == volunteer_id)
                                  .distinct()).scalars())


def _items(session: Session, volunteer_id: int, page: list[Transaction]) -> list[dict]:
    amounts = _own_amounts(session, volunteer_id, [tx.id for tx in page])
    titles = _activity_titles(session, [tx.service_record_id for tx in page if tx.service_record_id])
    unit_ids = {tx.unit_id for tx in page if tx.unit_id}
    units = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) if unit_ids else {}
    reversed_ids = reversed_among(session, [tx.id for tx in page])
    return [{"transaction_id": tx.id, "kind": tx.kind, "occurred_on": tx.occurred_on.isoformat(),
             "activity": titles.get(tx.service_record_id), "unit": units.get(tx.unit_id),
             "service_record_id": tx.service_record_id, "reverses_id": tx.reverses_id,
             "is_reversed": tx.id in reversed_ids, "memo": tx.memo,
             **amounts.get(tx.id, {"minutes": 0, "points": 0, "points_held": 0})} for tx in page]


def memberships(session: Session, principal: Principal, volunteer_id: int) -> list[dict]:
    """Membership history (unit, team, role, from, to, why it ended): transfers show here."""
    require_volunteer(session, principal, volunteer_id)
    rows = session.execute(
        select(Membership, Unit.name, Team.name).join(Unit, Unit.id == Membership.unit_id)
        .outerjoin(Team, Team.id == Membership.team_id)
        .where(Membership.volunteer_id == volunteer_id)
        .order_by(Membership.valid_from.desc(), Membership.id.desc())).all()
    return [{"unit": unit_name, "team": team_name, "is_home": m.is_home, "role": m.role,
             "valid_from": m.valid_from.isoformat(),
             "valid_to": m.valid_to.isoformat() if m.valid_to else None,
             "ended_reason": m.ended_reason} for m, unit_name, team_name in rows]


def redemptions(session: Session, principal: Principal, volunteer_id: int, *, limit: int = 20,
                before_id: int | None = None) -> dict:
    """The volunteer's transactions at redemption desks (积分兑换): any touching a desk account."""
    require_volunteer(session, principal, volunteer_id)
    limit = max(1, min(limit, 200))
    desk_tx = (select(Posting.transaction_id).join(Account, Account.id == Posting.account_id)
               .where(Posting.volunteer_id == volunteer_id, Account.kind.like("desk%")))
    query = select(Transaction).where(Transaction.volunteer_id == volunteer_id, Transaction.id.in_(desk_tx))
    page, more = newest_first(session, query, before_id, limit)
    return {"items": _items(session, volunteer_id, page),
            "next_before_id": page[-1].id if more and page else None}
