"""Concurrent sign-ups never exceed the quota: real threads, one place race (the point is
PostgreSQL, where the recruitment's row lock serialises the count; SQLite serialises writers)."""
from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import func, select

from ledger.errors import Conflict
from ledger.service import signup
from ledger.service.tables import Signup
from tests import factories as f
from tests.loop_support import clocked, do, world

THREADS = 16
QUOTA = 5


def test_sixteen_volunteers_at_once_take_exactly_the_five_places(ctx):
    ctx, _clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    activity_id = f.activity(ctx, w["units"]["station_a"], dt.date(2026, 11, 12))
    do(ctx, lambda s: signup.publish_recruitment(s, w["admins"]["station"], activity_id, signup.PublishRecruitment(
        quota=QUOTA, deadline=ctx.now() + dt.timedelta(days=1)), ctx.now()))
    volunteers = [f.user(ctx, "volunteer", volunteer_id=f.volunteer(ctx, w["units"]["station_a"]))[0]
                  for _ in range(THREADS)]
    outcomes: list[object] = []
    barrier = threading.Barrier(THREADS)

    def attempt(principal):
        barrier.wait()
        try:
            outcomes.append(do(ctx, lambda s: signup.sign_up(s, principal, activity_id, ctx.now(), ctx.today())))
        except Conflict as refused:
            outcomes.append(refused)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in volunteers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    accepted = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(accepted) == QUOTA and len(refused) == THREADS - QUOTA, outcomes
    assert all("已满" in r.message for r in refused)
    with ctx.uow() as uow:
        live = uow.session.execute(select(func.count()).where(Signup.activity_id == activity_id,
                                                              Signup.cancelled_at.is_(None))).scalar_one()
    assert live == QUOTA
