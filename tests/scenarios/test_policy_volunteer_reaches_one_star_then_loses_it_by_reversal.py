"""Worked story: a volunteer crosses 100 hours (一星), then a record is reversed and the star is
taken back by an explicit star change event, never silently.

Default policy (no version published for this county): 10 points an hour, at most 480
minutes per activity, 1 star at 100 cumulative hours.  2026-07-06 … 2026-07-17 carry no date
tag (not the 5th, no holiday), 文化文艺 ×1.0:
* 12 days × 480 min = 5760 min = 96 h, 12 × 80 = 960 pts: no star yet;
* 2026-07-20, 300 min → 6060 min = 101 h ≥ 100 h: 一星, dated 2026-07-20, 960 + 50 = 1010 pts;
* the 300-min record is reversed: back to 5760 min and 960 pts, and a 1 → 0 star event.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ledger.book.accounts import balance
from ledger.book.tables import Transaction
from ledger.incentives.pricing import current_star_level
from ledger.incentives.tables import StarEvent
from ledger.service import records as service_records
from tests import factories as f


def test_volunteer_reaches_one_star_then_loses_it_when_a_record_is_reversed(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    volunteer_id = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2024, 1, 1))
    for day in range(6, 18):
        activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 7, day))
        f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime(2026, 7, day, 8), 480)
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_minutes", volunteer_id) == 5760
        assert current_star_level(uow.session, volunteer_id) == 0
    last = f.activity(ctx, units["station_a"], dt.date(2026, 7, 20))
    record_id = f.served(ctx, recorder, approver, volunteer_id, last, dt.datetime(2026, 7, 20, 8), 300)
    with ctx.uow() as uow:
        s = uow.session
        assert balance(s, "volunteer_minutes", volunteer_id) == 6060
        assert balance(s, "volunteer_points", volunteer_id) == 1010
        up = s.execute(select(StarEvent).where(StarEvent.volunteer_id == volunteer_id)).scalars().all()
        assert [(e.level_before, e.level_after, e.occurred_on) for e in up] == [(0, 1, dt.date(2026, 7, 20))]
        assert s.get(Transaction, up[0].transaction_id).service_record_id == record_id

    with ctx.uow() as uow:
        service_records.reverse_record(uow.session, approver, record_id, "重复登记", dt.date(2026, 11, 23))
        uow.commit()
    with ctx.uow() as uow:
        s = uow.session
        assert balance(s, "volunteer_minutes", volunteer_id) == 5760
        assert balance(s, "volunteer_points", volunteer_id) == 960
        events = s.execute(select(StarEvent).where(StarEvent.volunteer_id == volunteer_id)
                           .order_by(StarEvent.id)).scalars().all()
        assert [(e.level_before, e.level_after) for e in events] == [(0, 1), (1, 0)]
        down = events[-1]
        assert down.occurred_on == dt.date(2026, 11, 23) and f"service record {record_id}" in down.reason
        assert s.get(Transaction, down.transaction_id).reverses_id is not None  # names the reversal
        assert current_star_level(s, volunteer_id) == 0
