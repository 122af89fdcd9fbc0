"""Support for the service-loop tests: a clock the test moves, a committed use case, a world
with a center, an institute, a station, its team, their admins and a volunteer who can sign in."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from sqlalchemy.orm import Session

from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.people.challenge import issue_challenge
from ledger.store.uow import CHINA, Context
from tests import factories as f


class Clock:
    """A clock set in China time, moved by the test."""

    def __init__(self, local: dt.datetime):
        self.set(local)

    def set(self, local: dt.datetime) -> None:
        self.now = local.replace(tzinfo=CHINA)

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.timezone.utc)


def clocked(ctx: Context, local: dt.datetime) -> tuple[Context, Clock]:
    """The same database as `ctx`, on a clock the test controls."""
    clock = Clock(local)
    return Context(engine=ctx.engine, secret_key=ctx.secret_key, deployment_id=ctx.deployment_id,
                   clock=clock, options=ctx.options), clock


def do(ctx: Context, fn: Callable[[Session], Any]) -> Any:
    """Run a use case in its own unit of work and commit."""
    with ctx.uow() as uow:
        result = fn(uow.session)
        uow.commit()
        return result


def answered(ctx: Context) -> tuple[str, str]:
    """A fresh challenge and its right answer."""
    issued = issue_challenge(ctx.secret_key, ctx.now())
    first, _, second = issued["question"].partition(" 加 ")
    return issued["challenge"], str(int(first) + int(second.split(" ")[0]))


def world(ctx: Context) -> dict:
    """Units, a team at station A, admins (center, institute, station A) and two volunteers."""
    units = f.tree(ctx)
    team = do(ctx, lambda s: org.create_team(s, SYSTEM, org.CreateTeam(f.ref("T"), "东风村文艺小队",
                                                                      units["station_a"], "文化文艺")))
    people = {name: f.user(ctx, "unit_admin", units[unit])
              for name, unit in (("center", "center"), ("institute", "institute"), ("station", "station_a"),
                                 ("station_b", "station_b"))}
    volunteers = [f.volunteer(ctx, units["station_a"], name=name) for name in ("李梅", "王强")]
    vol_users = [f.user(ctx, "volunteer", volunteer_id=v) for v in volunteers]
    return {"units": units, "team": team["id"], "admins": {k: v[0] for k, v in people.items()},
            "tokens": {k: v[1] for k, v in people.items()}, "volunteers": volunteers,
            "vol_principals": [p for p, _ in vol_users], "vol_tokens": [t for _, t in vol_users]}
