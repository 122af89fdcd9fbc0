"""Counter-side balances (a unit's, a desk's) are written just before COMMIT, in the same
database transaction: readers in the transaction see them, a rollback drops them, and
concurrent writers in one county no longer queue on the county's row for a whole use case."""
from __future__ import annotations

import datetime as dt

from ledger.book.accounts import account_id, balance
from ledger.book.postings import Leg, post
from ledger.store.session_state import session_state
from tests import factories as f


def _transfer(session, volunteer_id, unit_id, key, points):
    legs = [Leg(account_id(session, "unit_points_issued", unit_id), "PTS", -points, volunteer_id, unit_id),
            Leg(account_id(session, "volunteer_points", volunteer_id), "PTS", points, volunteer_id, unit_id)]
    return post(session, kind="adjustment", key=key, occurred_on=dt.date(2026, 11, 20), actor="t", legs=legs,
                volunteer_id=volunteer_id, unit_id=unit_id)


def test_a_counter_balance_is_pending_until_commit_and_visible_to_readers(ctx):
    units = f.tree(ctx)
    volunteer_id = f.volunteer(ctx, units["station_a"])
    with ctx.uow() as uow:
        s = uow.session
        before = balance(s, "unit_points_issued", units["station_a"])
        _transfer(s, volunteer_id, units["station_a"], f.ref("k"), 7)
        assert session_state(s).deferred_balances  # the unit's change waits for the commit
        assert balance(s, "volunteer_points", volunteer_id) == 7  # volunteer rows at once
        assert balance(s, "unit_points_issued", units["station_a"]) == before - 7  # a reader applies it
        assert not session_state(s).deferred_balances
        _transfer(s, volunteer_id, units["station_a"], f.ref("k"), 3)
        uow.commit()
    with ctx.uow() as uow:
        assert balance(uow.session, "unit_points_issued", units["station_a"]) == before - 10
        assert balance(uow.session, "volunteer_points", volunteer_id) == 10


def test_a_rolled_back_transaction_leaves_no_pending_change_behind(ctx):
    units = f.tree(ctx)
    volunteer_id = f.volunteer(ctx, units["station_a"])
    with ctx.uow() as uow:
        _transfer(uow.session, volunteer_id, units["station_a"], f.ref("k"), 5)
        session = uow.session
    assert not session_state(session).deferred_balances  # left without commit: rolled back and forgotten
    with ctx.uow() as uow:
        assert balance(uow.session, "unit_points_issued", units["station_a"]) == 0
        assert balance(uow.session, "volunteer_points", volunteer_id) == 0
