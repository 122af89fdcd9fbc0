"""Worked story: a volunteer serves, a second person approves, the ledger shows it exactly."""
from __future__ import annotations

import datetime as dt

import pytest

from ledger.book.accounts import balance
from ledger.book.integrity import verify
from ledger.book.postings import reverse
from ledger.errors import AlreadyReversed, Conflict, Forbidden
from ledger.service import records as service_records
from ledger.service.tables import ServiceRecord
from ledger.volunteer_view import lookup
from tests import factories as f


def test_volunteer_serves_two_hours_and_is_credited_hours_and_points(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    volunteer_id = f.volunteer(ctx, units["station_a"])
    # 2026-11-10 is a plain Tuesday: no date tag; 文化文艺 multiplier 1.0; no rating yet.
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 10))
    record_id = f.served(ctx, recorder, approver, volunteer_id, activity_id,
                         dt.datetime(2026, 11, 10, 9, 0), 120)
    with ctx.uow() as uow:
        s = uow.session
        record = s.get(ServiceRecord, record_id)
        assert record.status == "posted" and record.approved_by == approver.user_id
        # 120 minutes; 2 h × 10 points/h × 1.0 = 20 points (default policy)
        assert balance(s, "volunteer_minutes", volunteer_id) == 120
        assert balance(s, "volunteer_points", volunteer_id) == 20
        assert balance(s, "unit_minutes_served", units["station_a"]) <= -120
        summary = lookup.volunteer_summary(s, approver, volunteer_id, dt.date(2026, 11, 23))
        assert summary["hours_total"] == "2" and summary["points"] == 20
        assert summary["star_level"] == 0 and summary["minutes_to_next_star"] == 100 * 60 - 120


def test_the_recorder_cannot_approve_their_own_record(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 10))
    with ctx.uow() as uow:
        record = service_records.record_service(uow.session, recorder, service_records.RecordService(
            volunteer_id, activity_id, dt.datetime(2026, 11, 10, 9), dt.datetime(2026, 11, 10, 10)),
            ctx.local_now())
        uow.commit()
    with ctx.uow() as uow, pytest.raises(Forbidden) as caught:
        service_records.approve_record(uow.session, recorder, record.id)
    assert caught.value.field == "approved_by"


def test_a_reversed_record_is_gone_from_balances_and_cannot_be_reversed_again(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 11))
    record_id = f.served(ctx, recorder, approver, volunteer_id, activity_id,
                         dt.datetime(2026, 11, 11, 14, 0), 90)
    with ctx.uow() as uow:
        service_records.reverse_record(uow.session, approver, record_id, "录入错误", ctx.today())
        uow.commit()
    with ctx.uow() as uow:
        s = uow.session
        assert balance(s, "volunteer_minutes", volunteer_id) == 0
        assert balance(s, "volunteer_points", volunteer_id) == 0
        with pytest.raises(Conflict):
            service_records.reverse_record(s, approver, record_id, "again", ctx.today())
        tx_id = s.get(ServiceRecord, record_id).transaction_id
        with pytest.raises(AlreadyReversed):
            reverse(s, tx_id, actor="t", occurred_on=ctx.today(), memo="twice")


def test_overlapping_records_for_one_volunteer_are_refused(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 12))
    command = service_records.RecordService(volunteer_id, activity_id, dt.datetime(2026, 11, 12, 9),
                                            dt.datetime(2026, 11, 12, 11))
    with ctx.uow() as uow:
        service_records.record_service(uow.session, recorder, command, ctx.local_now())
        uow.commit()
    overlapping = service_records.RecordService(volunteer_id, activity_id, dt.datetime(2026, 11, 12, 10),
                                                dt.datetime(2026, 11, 12, 12))
    with ctx.uow() as uow, pytest.raises(Conflict) as caught:
        service_records.record_service(uow.session, recorder, overlapping, ctx.local_now())
    assert caught.value.field == "started_at"


def test_verify_passes_on_a_fresh_ledger_with_postings(fresh_ctx):
    ctx = fresh_ctx
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 13))
    f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime(2026, 11, 13, 8), 60)
    with ctx.uow() as uow:
        report = verify(uow.session)
    assert report.ok, report.problems
    assert report.transactions == 1 and report.postings == 4
