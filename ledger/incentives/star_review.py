"""The daily star review (星级复核): star conditions that change with time alone.

A star level can change with no new record: a volunteer reaches the months of registration
a level asks, a month passes without service where a level asks for service every month, an
upheld complaint leaves (or enters) the window a level looks at.  `review_stars` evaluates
every active volunteer on one day, by the same rule as postings (`stars.star_change`), and
records an explicit star event dated that day where the level differs from the last one
recorded.  The `review_stars` job (jobs/stars.py) runs it once per day, catching up missed
days in order, so that each change is dated the day its condition became true.  Running a
day twice records nothing the second time.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.book.tables import Account, Posting, Transaction
from ledger.book.year_minutes import VolunteerYearMinutes
from ledger.incentives import pricing
from ledger.incentives.policy import add_months
from ledger.incentives.stars import StarHistory, history_months, needs_history, star_change
from ledger.incentives.tables import StarEvent
from ledger.people.tables import Volunteer

CHUNK = 500


def star_histories(session: Session, volunteer_ids: list[int], on_date: dt.date,
                   months: int) -> dict[int, StarHistory]:
    """Each volunteer's months with credited service and days of upheld complaints, over the
    `months` months before `on_date` (and `on_date` itself)."""
    since = add_months(dt.date(on_date.year, on_date.month, 1), -months)
    served: dict[int, set] = defaultdict(set)
    complaints: dict[int, list] = defaultdict(list)
    for start in range(0, len(volunteer_ids), CHUNK):
        chunk = volunteer_ids[start:start + CHUNK]
        for owner, day in session.execute(
                select(Account.owner_id, Posting.occurred_on).join(Posting, Posting.account_id == Account.id)
                .where(Account.kind == "volunteer_minutes", Account.owner_id.in_(chunk), Posting.amount > 0,
                       Posting.occurred_on >= since, Posting.occurred_on <= on_date)):
            served[owner].add((day.year, day.month))
        for volunteer_id, recorded_at in session.execute(
                select(Transaction.volunteer_id, Transaction.recorded_at)
                .where(Transaction.kind == "complaint", Transaction.volunteer_id.in_(chunk))):
            if since <= recorded_at.date() <= on_date:
                complaints[volunteer_id].append(recorded_at.date())
    return {volunteer_id: StarHistory(frozenset(served[volunteer_id]), tuple(sorted(complaints[volunteer_id])))
            for volunteer_id in volunteer_ids}


def _inputs(session: Session, volunteer_ids: list[int], year: int) -> dict[int, tuple[int, int, int]]:
    """(last level recorded, minutes on the hours account, minutes in `year`) per volunteer."""
    last = (select(StarEvent.volunteer_id, func.max(StarEvent.id).label("id"))
            .where(StarEvent.volunteer_id.in_(volunteer_ids)).group_by(StarEvent.volunteer_id).subquery())
    levels = dict(session.execute(select(StarEvent.volunteer_id, StarEvent.level_after)
                                  .join(last, last.c.id == StarEvent.id)).all())
    totals = dict(session.execute(select(Account.owner_id, Account.balance).where(
        Account.kind == "volunteer_minutes", Account.owner_id.in_(volunteer_ids))).all())
    in_year = dict(session.execute(select(VolunteerYearMinutes.volunteer_id, VolunteerYearMinutes.minutes).where(
        VolunteerYearMinutes.volunteer_id.in_(volunteer_ids), VolunteerYearMinutes.year == year)).all())
    return {v: (int(levels.get(v, 0)), int(totals.get(v, 0)), int(in_year.get(v, 0))) for v in volunteer_ids}


def _carried(session: Session, volunteer_ids: list[int]) -> dict[int, int]:
    """The highest level carried in from another deployment: the review never goes below it."""
    return dict(session.execute(select(StarEvent.volunteer_id, func.max(StarEvent.level_after)).where(
        StarEvent.volunteer_id.in_(volunteer_ids), StarEvent.reason.startswith("carried from"))
        .group_by(StarEvent.volunteer_id)).all())


def review_stars(session: Session, on_date: dt.date) -> dict:
    """Record the star changes that hold on `on_date` for every active volunteer; a summary."""
    volunteers = session.execute(select(Volunteer.id, Volunteer.home_unit_id, Volunteer.registered_on)
                                 .where(Volunteer.status == "active").order_by(Volunteer.id)).all()
    changes = {"up": 0, "down": 0}
    for start in range(0, len(volunteers), CHUNK):
        chunk = volunteers[start:start + CHUNK]
        inputs = _inputs(session, [v.id for v in chunk], on_date.year)
        policies = {v.home_unit_id: pricing.policy_in_force(session, v.home_unit_id, on_date) for v in chunk}
        wanted = [v.id for v in chunk if needs_history(policies[v.home_unit_id][1])]
        months = max([history_months(policy) for _version, policy in policies.values()] + [0])
        histories = star_histories(session, wanted, on_date, months) if wanted else {}
        carried = _carried(session, [v.id for v in chunk])
        for volunteer in chunk:
            version, policy = policies[volunteer.home_unit_id]
            before, total, this_year = inputs[volunteer.id]
            change = star_change(policy, before, total, this_year, volunteer.registered_on, on_date,
                                 volunteer_id=volunteer.id, transaction_id=None,
                                 policy_version_id=version.id if version else None,
                                 reason=f"daily star review {on_date.isoformat()}",
                                 history=histories.get(volunteer.id))
            if change is not None and change.level_after >= carried.get(volunteer.id, 0):
                pricing.record_star_change(session, change)
                changes["up" if change.level_after > change.level_before else "down"] += 1
    return {"day": on_date.isoformat(), "volunteers": len(volunteers), "stars_up": changes["up"],
            "stars_down": changes["down"]}
