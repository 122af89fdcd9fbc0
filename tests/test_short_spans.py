"""A service shorter than a whole minute is refused in Chinese (never a database CHECK error):
over HTTP a 409 without a message a person can read; on the phone a sign-out seconds after the
sign-in is flagged for the station, not an error page."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from ledger.errors import ValidationFailed
from ledger.service import checkin
from ledger.service.records import check_times
from ledger.service.tables import AttendanceFlag, ServiceRecord
from tests.loop_support import clocked, do, world
from tests.test_service_loop import _taken


def test_a_span_under_one_minute_is_refused_naming_the_end():
    start = dt.datetime(2026, 11, 10, 9, 0, 0)
    with pytest.raises(ValidationFailed) as refused:
        check_times(start, start + dt.timedelta(seconds=40), None, start + dt.timedelta(hours=1))
    assert refused.value.field == "ended_at" and "1 分钟" in refused.value.message
    assert check_times(start, start + dt.timedelta(seconds=60), None, start + dt.timedelta(hours=1)) == 1


def test_a_sign_out_seconds_after_the_sign_in_is_flagged_not_a_database_error(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    _order, activity_id = _taken(ctx, clock, w)
    station, volunteer = w["admins"]["station"], w["volunteers"][0]
    clock.set(dt.datetime(2026, 11, 10, 9, 0))
    by_hand = lambda direction, at: lambda s: checkin.sign_by_hand(  # noqa: E731
        s, station, activity_id, volunteer, direction, at, ctx.now(), ctx.local_now())
    do(ctx, by_hand("in", dt.datetime(2026, 11, 10, 8, 30, 5)))
    out = do(ctx, by_hand("out", dt.datetime(2026, 11, 10, 8, 30, 45)))
    assert out["record"] is None and out["flag"]["kind"] == "impossible_span"
    with ctx.uow() as uow:
        assert uow.session.execute(select(ServiceRecord.id).where(ServiceRecord.activity_id == activity_id)).all() == []
        flag = uow.session.execute(select(AttendanceFlag).where(AttendanceFlag.activity_id == activity_id)).scalar_one()
        assert "1 分钟" in flag.detail
