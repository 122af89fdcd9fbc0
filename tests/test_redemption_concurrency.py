"""Races with real threads: many desks redeeming for one volunteer, two schedulers releasing.

Both run on SQLite too (where BEGIN IMMEDIATE serialises writers); the point of them is
PostgreSQL, where the volunteer's row lock and the conditional UPDATEs do the work.
"""
from __future__ import annotations

import datetime as dt
import secrets
import threading

from jobs import runner
from jobs.redemption import JOBS, RELEASE_JOB
from ledger.book.accounts import balance
from ledger.book.tables import Transaction
from ledger.errors import InsufficientPoints
from ledger.redemption import redeem as redemption, reservations
from ledger.redemption.redeem import Line
from ledger.redemption.tables import Receipt, Reservation, StockMovement
from ledger.store.db import make_engine
from ledger.store.uow import Context
from ledger.store.usecase import write
from tests import factories as f
from tests.test_redemption_support import desk_world, give_points, stock_of

THREADS = 32


def _run_all(targets) -> None:
    barrier = threading.Barrier(len(targets))

    def wrap(target):
        barrier.wait()
        target()

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)


def test_32_desks_at_once_for_one_volunteer_post_exactly_what_the_balance_affords(ctx):
    world = desk_world(ctx)
    volunteer_id = f.volunteer(ctx, world.units["station_a"])
    give_points(world, ctx, volunteer_id, 30)  # 30 h × 10 = 300 points
    oil = world.items["食用油"]  # 30 points each, 100 in stock: 300 // 30 = 10 affordable
    keys = [f.ref("race") for _ in range(THREADS)]
    outcomes: dict[str, object] = {}

    def attempt(key):
        def run():
            try:
                outcomes[key] = write(ctx, key=key, operation="desk.redeem", request={"v": volunteer_id, "k": key},
                                      fn=lambda s: redemption.redeem(s, world.operator, world.desk_id, volunteer_id,
                                                                     [Line(oil, 1, 30)], ctx.today()))[0]
            except InsufficientPoints as exc:
                outcomes[key] = exc
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                outcomes[key] = repr(exc)
        return run

    _run_all([attempt(k) for k in keys])
    receipts = {k: v for k, v in outcomes.items() if isinstance(v, dict)}
    refused = [v for v in outcomes.values() if isinstance(v, InsufficientPoints)]
    assert len(receipts) == 10 and len(refused) == THREADS - 10, outcomes
    assert sorted(r["balance_after"] for r in receipts.values()) == list(range(0, 300, 30))
    first_wave = dict(outcomes)

    # every key retried, all at once: the first receipts come back, nothing is redeemed again
    _run_all([attempt(k) for k in keys])
    for k in receipts:
        assert outcomes[k] == first_wave[k]
    with ctx.uow() as uow:
        s = uow.session
        assert balance(s, "volunteer_points", volunteer_id) == 0
        assert s.query(Receipt).filter_by(volunteer_id=volunteer_id).count() == 10
        assert s.query(Transaction).filter_by(volunteer_id=volunteer_id, kind="redemption").count() == 10
        assert s.query(StockMovement).filter_by(item_id=oil, kind="redeem").count() == 10
    assert stock_of(ctx, oil) == 90


def _shifted(ctx: Context, engine=None) -> Context:
    """A context whose clock runs a random number of days ahead, so its job periods are its own."""
    shift = dt.timedelta(days=1000 + secrets.randbelow(200_000))
    return Context(engine=engine or ctx.engine, secret_key=ctx.secret_key, clock=lambda: ctx.now() + shift)


def test_two_schedulers_releasing_at_once_release_each_reservation_once(ctx):
    later = _shifted(ctx)
    world = desk_world(later, weekdays=(1, 2, 3, 4, 5, 6, 7))
    rice = world.items["大米 5kg"]
    held = []
    for _ in range(3):
        volunteer_id = f.volunteer(later, world.units["station_a"])
        give_points(world, later, volunteer_id, 8)  # 80 points
        with later.uow() as uow:
            held.append(reservations.reserve(uow.session, world.operator, world.desk_id, volunteer_id,
                                             [Line(rice, 1, 50)], later.today()))
            uow.commit()
    assert stock_of(later, rice) == 97
    period = held[0]["pickup_on"]  # tomorrow: the desk opens every day
    job = next(j for j in JOBS if j.name == RELEASE_JOB)
    url = ctx.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url), make_engine(url)]
    contexts = [Context(engine=e, secret_key=ctx.secret_key, clock=later.clock) for e in engines]
    results = [None, None]

    def scheduler(index):
        return lambda: results.__setitem__(index, runner.run_period(contexts[index], job, period))

    try:
        _run_all([scheduler(0), scheduler(1)])
        assert sorted(r is None for r in results) == [False, True], results
        ran = next(r for r in results if r is not None)
        assert ran["released"] >= 3
        day_after = dt.datetime.combine(dt.date.fromisoformat(period) + dt.timedelta(days=1), dt.time(1))
        # a restart's catch-up may run earlier days that were never run, but never this one again
        assert period not in runner.catch_up(contexts[0], job, day_after)
        assert runner.run_period(contexts[1], job, period) is None
    finally:
        for e in engines:
            e.dispose()
    with later.uow() as uow:
        s = uow.session
        for reservation in held:
            row = s.get(Reservation, reservation["id"])
            assert row.status == "released"
            assert s.query(Transaction).filter_by(reverses_id=row.transaction_id).count() == 1
            assert s.query(StockMovement).filter_by(reservation_id=row.id, kind="release").count() == 1
            assert balance(s, "volunteer_points", row.volunteer_id) == 80
            assert balance(s, "volunteer_points_held", row.volunteer_id) == 0
    assert stock_of(later, rice) == 100
