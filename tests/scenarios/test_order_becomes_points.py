"""Worked story: a resident orders a cultural service; the center dispatches it to a team; the
team takes it and recruits; a volunteer signs up, scans in and out; a second admin approves the
proposed record; the resident rates it 5; the volunteer's balance shows the hours and points.

Figures by hand (default policy): 2026-11-10 is a plain Tuesday (no date tag), 文化服务 is
served as 文化文艺 (×1.0).  09:00–11:30 is 150 minutes = 2.5 h × 10 points = 25 points; the
rating 5 multiplies by 1.2: 30 points, so the rating adds 5.  Balance: 150 minutes, 30 points.
"""
from __future__ import annotations

import datetime as dt

from ledger.book.accounts import balance
from ledger.service import checkin, order_feedback, order_reports, orders, records as service_records, signup
from ledger.service.order_rules import rating_token
from tests.loop_support import answered, clocked, do, world


def test_an_order_becomes_hours_and_points_on_the_volunteers_balance(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    admins, units = w["admins"], w["units"]
    volunteer, me = w["volunteers"][0], w["vol_principals"][0]

    # 点单: from the public page, with the challenge answered
    challenge, answer = answered(ctx)
    order = do(ctx, lambda s: orders.submit_order(s, ctx.secret_key, orders.SubmitOrder(
        unit_id=units["station_a"], kind="文化服务", title="重阳节文艺演出", place="东风村文化礼堂",
        wanted_at=dt.datetime(2026, 11, 10, 9, 0), contact_name="赵大爷", phone="13912345678"),
        now=ctx.now(), client_address="10.0.0.8", challenge=challenge, answer=answer))
    assert order["state"] == "submitted" and order["phone_masked"] == "139****5678"
    token = rating_token(ctx.secret_key, order["id"])

    # 派单 by the center to the station's team, 接单 by the station an hour later
    clock.set(dt.datetime(2026, 11, 9, 10, 0))
    do(ctx, lambda s: orders.dispatch_order(s, admins["center"], order["id"], orders.DispatchOrder(
        deadline=dt.datetime(2026, 11, 9, 18, 0), team_id=w["team"]), ctx.now()))
    clock.set(dt.datetime(2026, 11, 9, 11, 0))
    taken = do(ctx, lambda s: orders.take_order(s, admins["station"], order["id"], orders.TakeOrder(), ctx.now()))
    assert taken["state"] == "taken" and taken["response_minutes"] == 120
    activity_id = taken["activity_id"]

    # 招募 with two places; the volunteer signs up
    do(ctx, lambda s: signup.publish_recruitment(s, admins["station"], activity_id, signup.PublishRecruitment(
        quota=2, deadline=dt.datetime(2026, 11, 9, 20, 0)), ctx.now()))
    do(ctx, lambda s: signup.sign_up(s, me, activity_id, ctx.now(), ctx.today()))

    # 签到 at 09:00, 签退 at 11:30, each by scanning the code shown at that moment
    for moment, direction in ((dt.datetime(2026, 11, 10, 9, 0), "in"), (dt.datetime(2026, 11, 10, 11, 30), "out")):
        clock.set(moment)
        url = "http://localhost" + checkin.current_code(ctx.secret_key, activity_id, ctx.now())["path"]
        scanned = do(ctx, lambda s: checkin.scan(s, me, ctx.secret_key, url, direction, ctx.now(), ctx.local_now()))
    proposed = scanned["record"]
    assert proposed["status"] == "pending" and proposed["minutes"] == 150
    assert proposed["recorded_by"] == admins["station"].user_id  # the organiser who recruited

    # a second person approves: hours and points post
    do(ctx, lambda s: service_records.approve_record(s, admins["institute"], proposed["id"]))
    done = do(ctx, lambda s: orders.complete_order(s, admins["station"], order["id"], ctx.now()))
    assert done["state"] == "completed"

    # 评单 5 from the resident's link: +5 points on the record
    rated = do(ctx, lambda s: order_feedback.rate_order(s, ctx.secret_key, order["id"], token, 5, "演出很精彩",
                                                        ctx.now(), ctx.today()))
    assert rated["order"]["state"] == "rated" and [r["points"] for r in rated["records"]] == [5]

    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_minutes", volunteer) == 150
        assert balance(uow.session, "volunteer_points", volunteer) == 30
        report = order_reports.order_report(uow.session, admins["center"], units["center"],
                                            dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    row = report["total"]
    assert (row["received"], row["dispatched"], row["taken"], row["completed"], row["rated"]) == (1, 1, 1, 1, 1)
    assert row["response_minutes_avg"] == 120 and row["rating_avg"] == "5.0" and row["satisfaction_percent"] == 100
    events = do(ctx, lambda s: orders.get_order(s, admins["center"], order["id"]))["events"]
    assert [e["kind"] for e in events] == ["submitted", "dispatched", "taken", "completed", "rated"]
    assert events[1]["actor"] == admins["center"].username
