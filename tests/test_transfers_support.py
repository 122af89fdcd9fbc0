"""Helpers for the transfer tests (no tests here): policies, service on many days, balances."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select

from ledger.book.accounts import balance
from ledger.book.tables import Account, Posting
from ledger.incentives.pricing import default_policy_text, parse_cached
from ledger.incentives.tables import PolicyVersion
from ledger.store.db import make_engine
from ledger.store.uow import Context
from tests import factories as f
from tests.conftest import SECRET, fresh_database


def publish(ctx: Context, unit_id: int, effective_from: dt.date, *, funding: str = "county",
            per_hour: int = 10) -> None:
    """Publish the default policy with another funding rule or rate for a unit subtree.

    (Written straight to `policy_versions`: the policy publishing use case is another
    engineer's module; the stored row has the same shape it writes.)
    """
    text = default_policy_text().replace('funding = "county"', f'funding = "{funding}"') \
                                .replace("per_hour = 10 ", f"per_hour = {per_hour} ")
    policy = parse_cached(text)
    assert policy.funding == funding and policy.points_per_hour == per_hour
    with ctx.uow() as uow:
        uow.session.add(PolicyVersion(unit_id=unit_id, version=1, effective_from=effective_from, name=policy.name,
                                      document=text, content_hash=policy.content_hash(), published_by="test"))
        uow.commit()


def service_days(start: dt.date, count: int) -> list[dt.date]:
    """`count` days from `start`, skipping the 5th of a month (志愿服务日, ×1.2 points)."""
    days, day = [], start
    while len(days) < count:
        if day.day != 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def serve(ctx: Context, recorder, approver, volunteer_id: int, unit_id: int, days: list[dt.date],
          minutes: int = 480, activity_id: int | None = None) -> int:
    """One posted record a day at 08:00 for `minutes` (文化文艺, ×1.0), each day in an activity of its
    own (a per-activity cap sums an activity's records); returns the first activity's id."""
    first = None
    for day in days:
        activity = activity_id or f.activity(ctx, unit_id, day)
        first = first or activity
        f.served(ctx, recorder, approver, volunteer_id, activity, dt.datetime.combine(day, dt.time(8)), minutes)
    return first


def bal(ctx: Context, kind: str, owner_id: int) -> int:
    """The cached balance of one account."""
    with ctx.uow() as uow:
        return balance(uow.session, kind, owner_id)


def posted_sum(ctx: Context, kind: str, owner_id: int) -> int:
    """The sum of the postings of one account (to compare with the cached balance)."""
    with ctx.uow() as uow:
        return int(uow.session.execute(
            select(func.coalesce(func.sum(Posting.amount), 0)).join(Account, Account.id == Posting.account_id)
            .where(Account.kind == kind, Account.owner_id == owner_id)).scalar_one())


def second_deployment(kind: str, tmp_path: Path, deployment_id: str = "county-2",
                      name: str = "第二县新时代文明实践中心") -> tuple[Context, str]:
    """Another county's deployment: a fresh database, its own deployment id and key folder."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = fresh_database(kind, tmp_path)
    return deployment_over(make_engine(url), tmp_path, deployment_id, name), url


def deployment_over(engine, tmp_path: Path, deployment_id: str, name: str = "第二县新时代文明实践中心",
                    secret: bytes = SECRET + b"-other") -> Context:
    """A deployment's context over an existing database, with its own id, secret and key folder."""
    return Context(engine=engine, secret_key=secret, deployment_id=deployment_id,
                   deployment_name=name, options={"transfer_future_limit_days": 30,
                                                  "data_dir": str(tmp_path / f"{deployment_id}-data"),
                                                  "rate_limit_per_minute": 100000, "sign_in_max_attempts": 5,
                                                  "sign_in_lockout_minutes": 15})
