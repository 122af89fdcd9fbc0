"""The service loop's rules, on both engines: bad input refused in Chinese with nothing
written, the rotating code refused after it rotates, the order's state from its events, the
jobs, and joining from the phone."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from jobs import runner
from jobs.service_loop import JOBS
from ledger.errors import Conflict, Forbidden, NotFound, TooManyAttempts, ValidationFailed
from ledger.people import applications
from ledger.service import checkin, order_feedback, orders, signup
from ledger.service.order_rules import rating_token
from ledger.service.tables import AttendanceFlag, AttendanceScan, OrderEvent, ServiceOrder, ServiceRecord
from tests import factories as f
from tests.loop_support import answered, clocked, do, world

T0 = dt.datetime(2026, 11, 9, 9, 0)


def _order(ctx, w, **changes) -> dict:
    challenge, answer = answered(ctx)
    fields = {"unit_id": w["units"]["station_a"], "kind": "健身体育", "title": "太极拳教学", "place": "村广场",
              "wanted_at": dt.datetime(2026, 11, 10, 9, 0), "contact_name": "钱阿姨", "phone": "13600001111",
              **changes}
    return do(ctx, lambda s: orders.submit_order(s, ctx.secret_key, orders.SubmitOrder(**fields), now=ctx.now(),
                                                 client_address=f.ref("ip"), challenge=challenge, answer=answer))


def _taken(ctx, clock, w) -> tuple[dict, int]:
    order = _order(ctx, w, phone="1370000" + f"{int(f.ref('p')[-4:], 16) % 10000:04d}")
    do(ctx, lambda s: orders.dispatch_order(s, w["admins"]["institute"], order["id"], orders.DispatchOrder(
        deadline=ctx.now() + dt.timedelta(hours=8), unit_id=w["units"]["station_a"]), ctx.now()))
    taken = do(ctx, lambda s: orders.take_order(s, w["admins"]["station"], order["id"], orders.TakeOrder(), ctx.now()))
    return order, taken["activity_id"]


def _refused(ctx, error, fn, field=None):
    with ctx.uow() as uow, pytest.raises(error) as caught:
        fn(uow.session)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in caught.value.message), caught.value.message  # Chinese
    if field:
        assert caught.value.field == field
    return caught.value


def _count(ctx, table) -> int:
    with ctx.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_order_for_a_unit_that_does_not_exist_is_refused_and_nothing_is_written(ctx):
    ctx, _clock = clocked(ctx, T0)
    w = world(ctx)
    before = _count(ctx, ServiceOrder)
    with pytest.raises(NotFound) as caught:
        _order(ctx, w, unit_id=987654)
    assert "不存在" in caught.value.message and caught.value.field == "unit_id"
    with pytest.raises(ValidationFailed) as wrong:
        challenge, _answer = answered(ctx)
        do(ctx, lambda s: orders.submit_order(s, ctx.secret_key, orders.SubmitOrder(
            w["units"]["station_a"], "健身体育", "x", "y", dt.datetime(2026, 11, 10, 9), "z", "13600001111"),
            now=ctx.now(), challenge=challenge, answer="99"))
    assert wrong.value.field == "challenge_answer"
    assert _count(ctx, ServiceOrder) == before


def test_a_challenge_answers_once_and_a_phone_orders_at_most_three_times_a_day(ctx):
    ctx, _clock = clocked(ctx, T0)
    w = world(ctx)
    challenge, answer = answered(ctx)
    command = orders.SubmitOrder(w["units"]["station_a"], "理论宣讲", "政策宣讲", "村委会", dt.datetime(2026, 11, 12, 9),
                                 "孙伯", "13811112222")
    submit = lambda s: orders.submit_order(s, ctx.secret_key, command, now=ctx.now(), challenge=challenge,  # noqa: E731
                                           answer=answer)
    do(ctx, submit)
    _refused(ctx, ValidationFailed, submit, "challenge_answer")
    for _ in range(2):
        _order(ctx, w, phone="13811112222")
    with pytest.raises(TooManyAttempts) as caught:
        _order(ctx, w, phone="13811112222")
    assert caught.value.field == "phone"


def test_the_state_follows_the_events_decline_overdue_and_the_job(ctx):
    ctx, clock = clocked(ctx, T0)
    w = world(ctx)
    order = _order(ctx, w)
    _refused(ctx, Conflict, lambda s: orders.take_order(s, w["admins"]["station"], order["id"], orders.TakeOrder(),
                                                        ctx.now()), "state")
    _refused(ctx, Forbidden, lambda s: orders.dispatch_order(s, w["admins"]["station"], order["id"], orders.DispatchOrder(
        deadline=ctx.now() + dt.timedelta(hours=1), team_id=w["team"]), ctx.now()), "role")
    dispatch = lambda s: orders.dispatch_order(s, w["admins"]["institute"], order["id"], orders.DispatchOrder(  # noqa: E731
        deadline=ctx.now() + dt.timedelta(hours=2), team_id=w["team"]), ctx.now())
    do(ctx, dispatch)
    _refused(ctx, ValidationFailed, lambda s: orders.decline_order(s, w["admins"]["station"], order["id"], " ",
                                                                   ctx.now()), "reason")
    _refused(ctx, NotFound, lambda s: orders.decline_order(s, w["admins"]["station_b"], order["id"], "人手不够",
                                                           ctx.now()), "order_id")  # another station: not seen
    declined = do(ctx, lambda s: orders.decline_order(s, w["admins"]["station"], order["id"], "人手不够", ctx.now()))
    assert declined["state"] == "submitted" and declined["state_name"] == "待重新派单"
    do(ctx, dispatch)
    queue = do(ctx, lambda s: orders.list_orders(s, w["admins"]["station"], "take"))
    assert order["id"] in [o["id"] for o in queue]
    # the deadline passes untaken: the hourly job puts it back in the dispatcher's queue, once
    clock.set(T0 + dt.timedelta(hours=3, minutes=10))
    job = next(j for j in JOBS if j.name == "orders_overdue")
    assert runner.catch_up(ctx, job, ctx.local_now())
    assert runner.catch_up(ctx, job, ctx.local_now()) == []
    state = do(ctx, lambda s: orders.get_order(s, w["admins"]["center"], order["id"]))
    assert state["state_name"] == "待重新派单"
    assert [e["kind"] for e in state["events"]].count("overdue") == 1
    assert order["id"] in [o["id"] for o in do(ctx, lambda s: orders.list_orders(s, w["admins"]["institute"],
                                                                                 "dispatch"))]


def test_the_rotating_code_is_refused_after_it_rotates_and_a_foreign_code_is_refused(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 10, 9, 0))
    w = world(ctx)
    _order_, activity_id = _taken(ctx, clock, w)
    other_activity = _taken(ctx, clock, w)[1]
    me = w["vol_principals"][0]
    url = checkin.current_code(ctx.secret_key, activity_id, ctx.now())["path"]
    clock.set(dt.datetime(2026, 11, 10, 9, 2, 30))  # two rotations later
    error = _refused(ctx, ValidationFailed, lambda s: checkin.scan(s, me, ctx.secret_key, url, "in", ctx.now(),
                                                                   ctx.local_now()), "code")
    assert "过期" in error.message
    fresh = checkin.current_code(ctx.secret_key, activity_id, ctx.now())["path"]
    forged = fresh.replace(f"a={activity_id}", f"a={other_activity}")
    error = _refused(ctx, ValidationFailed, lambda s: checkin.scan(s, me, ctx.secret_key, forged, "in", ctx.now(),
                                                                   ctx.local_now()), "code")
    assert "不是本活动" in error.message
    assert _scans(ctx, activity_id) == 0
    do(ctx, lambda s: checkin.scan(s, me, ctx.secret_key, fresh, "in", ctx.now(), ctx.local_now()))
    assert _scans(ctx, activity_id) == 1


def _scans(ctx, activity_id) -> int:
    with ctx.uow() as uow:
        return uow.session.execute(select(func.count()).where(AttendanceScan.activity_id == activity_id)).scalar_one()


def test_bad_scans_are_refused_in_chinese_and_post_nothing(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    _order_, activity_id = _taken(ctx, clock, w)
    station = w["admins"]["station"]
    do(ctx, lambda s: signup.publish_recruitment(s, station, activity_id, signup.PublishRecruitment(
        quota=5, deadline=ctx.now() + dt.timedelta(hours=5)), ctx.now()))
    me, other = w["vol_principals"]
    clock.set(dt.datetime(2026, 11, 10, 9, 0))
    scan = lambda who, direction: lambda s: checkin.scan(  # noqa: E731
        s, who, ctx.secret_key, checkin.current_code(ctx.secret_key, activity_id, ctx.now())["path"], direction,
        ctx.now(), ctx.local_now())
    assert "先报名" in _refused(ctx, Forbidden, scan(other, "in")).message  # not signed up, and it is required
    clock.set(dt.datetime(2026, 11, 9, 10, 0))
    do(ctx, lambda s: signup.sign_up(s, me, activity_id, ctx.now(), ctx.today()))
    clock.set(dt.datetime(2026, 11, 10, 9, 0))
    assert "尚未签到" in _refused(ctx, Conflict, scan(me, "out")).message
    do(ctx, scan(me, "in"))
    assert "重复签到" in _refused(ctx, Conflict, scan(me, "in")).message
    assert "报名" in _refused(ctx, Conflict, lambda s: signup.cancel_signup(s, me, activity_id, ctx.now())).message
    clock.set(dt.datetime(2026, 11, 10, 10, 0))
    do(ctx, scan(me, "out"))
    assert "重复签退" in _refused(ctx, Conflict, scan(me, "out")).message
    with ctx.uow() as uow:
        records = uow.session.execute(select(ServiceRecord).where(ServiceRecord.activity_id == activity_id)).scalars()
        assert [(r.minutes, r.status) for r in records] == [(60, "pending")]


def test_an_impossible_span_and_a_missing_sign_out_are_flagged_never_posted(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    _order_, activity_id = _taken(ctx, clock, w)
    station = w["admins"]["station"]
    first, second = w["volunteers"]
    clock.set(dt.datetime(2026, 11, 10, 9, 0))
    by_hand = lambda v, d, at: lambda s: checkin.sign_by_hand(s, station, activity_id, v, d, at,  # noqa: E731
                                                               ctx.now(), ctx.local_now())
    do(ctx, by_hand(first, "in", dt.datetime(2026, 11, 10, 8, 30)))
    out = do(ctx, by_hand(first, "out", dt.datetime(2026, 11, 10, 8, 0)))  # before the sign-in
    assert out["record"] is None and out["flag"]["kind"] == "impossible_span"
    do(ctx, by_hand(second, "in", dt.datetime(2026, 11, 10, 8, 30)))
    clock.set(dt.datetime(2026, 11, 12, 9, 0))
    job = next(j for j in JOBS if j.name == "sign_outs_missing")
    runner.catch_up(ctx, job, ctx.local_now())
    runner.catch_up(ctx, job, ctx.local_now())
    with ctx.uow() as uow:
        flags = uow.session.execute(select(AttendanceFlag.volunteer_id, AttendanceFlag.kind)
                                    .where(AttendanceFlag.activity_id == activity_id)).all()
        assert sorted(flags) == sorted([(first, "impossible_span"), (second, "missing_sign_out")])
        assert uow.session.execute(select(func.count()).where(ServiceRecord.activity_id == activity_id)).scalar_one() == 0


def test_a_rating_of_a_service_the_rater_did_not_order_is_refused(ctx):
    ctx, clock = clocked(ctx, T0)
    w = world(ctx)
    mine, other = _order(ctx, w, phone="13500000001"), _order(ctx, w, phone="13500000002")
    my_token = rating_token(ctx.secret_key, mine["id"])
    error = _refused(ctx, Forbidden, lambda s: order_feedback.rate_order(s, ctx.secret_key, other["id"], my_token, 5,
                                                                         "", ctx.now(), ctx.today()), "token")
    assert "不是该服务的点单人" in error.message
    assert "尚未完成" in _refused(ctx, Conflict, lambda s: order_feedback.rate_order(
        s, ctx.secret_key, mine["id"], my_token, 5, "", ctx.now(), ctx.today())).message
    with ctx.uow() as uow:
        kinds = uow.session.execute(select(OrderEvent.kind).where(OrderEvent.order_id.in_([mine["id"], other["id"]]))
                                    ).scalars().all()
    assert kinds == ["submitted", "submitted"]


def test_an_upheld_complaint_zeroes_the_points_of_the_activitys_records(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    order, activity_id = _taken(ctx, clock, w)
    station, institute, center = (w["admins"][k] for k in ("station", "institute", "center"))
    volunteer = w["volunteers"][0]
    clock.set(dt.datetime(2026, 11, 10, 12, 0))
    do(ctx, lambda s: checkin.sign_by_hand(s, station, activity_id, volunteer, "in", dt.datetime(2026, 11, 10, 9, 0),
                                           ctx.now(), ctx.local_now()))
    record = do(ctx, lambda s: checkin.sign_by_hand(s, station, activity_id, volunteer, "out",
                                                    dt.datetime(2026, 11, 10, 11, 0), ctx.now(), ctx.local_now()))
    assert "待审核" in _refused(ctx, Conflict, lambda s: orders.complete_order(s, station, order["id"],
                                                                            ctx.now())).message
    from ledger.service import records as service_records
    do(ctx, lambda s: service_records.approve_record(s, institute, record["record"]["id"]))
    do(ctx, lambda s: orders.complete_order(s, station, order["id"], ctx.now()))
    token = rating_token(ctx.secret_key, order["id"])
    do(ctx, lambda s: order_feedback.complain(s, ctx.secret_key, order["id"], token, "迟到一小时", ctx.now()))
    _refused(ctx, Forbidden, lambda s: order_feedback.resolve_complaint(s, institute, order["id"], True, "属实",
                                                                        ctx.now(), ctx.today()), "role")
    resolved = do(ctx, lambda s: order_feedback.resolve_complaint(s, center, order["id"], True, "经核实属实",
                                                                  ctx.now(), ctx.today()))
    # 健身体育 is served as 医疗健身 (×1.1): 2 h × 10 × 1.1 = 22 points, all taken back; the hours stay
    assert [r["points"] for r in resolved["records"]] == [-22] and not resolved["order"]["complaint_open"]
    from ledger.book.accounts import balance
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_points", volunteer) == 0
        assert balance(uow.session, "volunteer_minutes", volunteer) == 120


def test_joining_from_the_phone_checks_the_id_number_and_catches_duplicates_without_naming_the_unit(ctx):
    ctx, _clock = clocked(ctx, T0)
    w = world(ctx)
    station = w["units"]["station_b"]

    def apply(id_number, name="周敏"):
        challenge, answer = answered(ctx)
        return lambda s: applications.apply(s, ctx.secret_key, applications.Apply(station, name, id_number,
                                                                                   "13700002222"),
                                            now=ctx.now(), today=ctx.today(), client_address=f.ref("ip"),
                                            challenge=challenge, answer=answer)
    good = f.random_id_number()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    assert "校验位" in _refused(ctx, ValidationFailed, apply(bad), "id_number").message
    applied = do(ctx, apply(good))
    assert "待审核" in _refused(ctx, Conflict, apply(good)).message
    _refused(ctx, NotFound, lambda s: applications.confirm(s, w["admins"]["station"], applied["id"], ctx.now(),
                                                           ctx.today()))  # station A cannot see station B's queue
    confirmed = do(ctx, lambda s: applications.confirm(s, w["admins"]["station_b"], applied["id"], ctx.now(),
                                                       ctx.today()))
    assert confirmed["volunteer"]["home_unit_id"] == station and confirmed["volunteer"]["id_masked"].endswith(good[-4:])
    existing = do(ctx, lambda s: applications.list_applications(s, w["admins"]["station_b"], None))
    assert existing[0]["status"] == "confirmed"
    error = _refused(ctx, Conflict, apply(good, name="别人"), "id_number")
    assert "已注册" in error.message and "南岭" not in error.message and "东风" not in error.message


def test_a_volunteer_outside_the_teams_cannot_sign_up_and_a_full_activity_refuses(ctx):
    ctx, clock = clocked(ctx, T0)
    w = world(ctx)
    _order_, activity_id = _taken(ctx, clock, w)
    do(ctx, lambda s: signup.publish_recruitment(s, w["admins"]["station"], activity_id, signup.PublishRecruitment(
        quota=1, deadline=ctx.now() + dt.timedelta(hours=5), team_ids=(w["team"],)), ctx.now()))
    me = w["vol_principals"][0]
    assert "指定队伍" in _refused(ctx, Forbidden, lambda s: signup.sign_up(s, me, activity_id, ctx.now(),
                                                                       ctx.today())).message
    _order2, open_activity = _taken(ctx, clock, w)
    do(ctx, lambda s: signup.publish_recruitment(s, w["admins"]["station"], open_activity, signup.PublishRecruitment(
        quota=1, deadline=ctx.now() + dt.timedelta(hours=5)), ctx.now()))
    do(ctx, lambda s: signup.sign_up(s, me, open_activity, ctx.now(), ctx.today()))
    assert "已满" in _refused(ctx, Conflict, lambda s: signup.sign_up(s, w["vol_principals"][1], open_activity,
                                                                    ctx.now(), ctx.today())).message
    do(ctx, lambda s: signup.cancel_signup(s, me, open_activity, ctx.now()))
    do(ctx, lambda s: signup.sign_up(s, w["vol_principals"][1], open_activity, ctx.now(), ctx.today()))
    listed = do(ctx, lambda s: signup.list_signups(s, w["admins"]["station"], open_activity))
    assert [(i["name"], i["is_cancelled"]) for i in listed["signups"]] == [("李梅", True), ("王强", False)]


def test_tokens_codes_and_answers_in_any_text_are_refused_cleanly(ctx):
    ctx, _clock = clocked(ctx, T0)
    w = world(ctx)
    mine = _order(ctx, w, phone="13500000003")
    _refused(ctx, Forbidden, lambda s: order_feedback.rate_order(s, ctx.secret_key, mine["id"], "评单\ud800", 5, "",
                                                                 ctx.now(), ctx.today()), "token")
    _refused(ctx, ValidationFailed, lambda s: checkin.scan(s, w["vol_principals"][0], ctx.secret_key,
                                                           "/checkin?a=1&w=1&c=二维码", "in", ctx.now(),
                                                           ctx.local_now()), "code")
    from ledger.people.challenge import check_challenge
    with pytest.raises(ValidationFailed):
        check_challenge(ctx.secret_key, "1.2.3.4.签名", "3", ctx.now())


def test_a_missing_sign_out_made_by_hand_proposes_the_record_and_closes_the_flag(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    _order_, activity_id = _taken(ctx, clock, w)
    station, volunteer = w["admins"]["station"], w["volunteers"][0]
    clock.set(dt.datetime(2026, 11, 10, 9, 0))
    do(ctx, lambda s: checkin.sign_by_hand(s, station, activity_id, volunteer, "in", None, ctx.now(), ctx.local_now()))
    clock.set(dt.datetime(2026, 11, 11, 9, 0))
    assert do(ctx, lambda s: checkin.flag_missing_sign_outs(s, ctx.now(), ctx.local_now())) == 1
    out = do(ctx, lambda s: checkin.sign_by_hand(s, station, activity_id, volunteer, "out",
                                                 dt.datetime(2026, 11, 10, 11, 30), ctx.now(), ctx.local_now()))
    assert out["record"]["minutes"] == 150 and out["record"]["status"] == "pending"
    seen = do(ctx, lambda s: checkin.attendance(s, station, activity_id))
    assert [(f["kind"], f["is_resolved"]) for f in seen["flags"]] == [("missing_sign_out", True)]
    assert "已处理" in _refused(ctx, Conflict, lambda s: checkin.resolve_flag(
        s, station, activity_id, seen["flags"][0]["id"], "补录", ctx.now())).message


def test_ids_in_a_body_are_checked_against_the_callers_scope(ctx):
    ctx, clock = clocked(ctx, T0)
    w, other = world(ctx), world(ctx)  # two counties in one database
    _order_, activity_id = _taken(ctx, clock, w)
    station = w["admins"]["station"]
    stranger = other["volunteers"][0]
    _refused(ctx, NotFound, lambda s: checkin.sign_by_hand(s, station, activity_id, stranger, "in", None, ctx.now(),
                                                           ctx.local_now()), "volunteer_id")
    _refused(ctx, NotFound, lambda s: signup.publish_recruitment(s, station, activity_id, signup.PublishRecruitment(
        quota=3, deadline=ctx.now() + dt.timedelta(hours=3), team_ids=(other["team"],)), ctx.now()), "team_ids")
