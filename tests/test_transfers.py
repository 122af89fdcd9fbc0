"""Transfers inside one deployment: memberships, hours stay where served, points move where the
policy funds per unit, bad input changes nothing, a racing redemption ends consistent."""
from __future__ import annotations

import datetime as dt
import secrets
import threading

import pytest
from sqlalchemy import select

from ledger.book.accounts import POINTS, account_id
from ledger.book.postings import Leg, post
from ledger.errors import RedemptionInFlight, UnknownUnit, ValidationFailed
from ledger.people.access import SYSTEM
from ledger.people.tables import Membership, Volunteer
from ledger.people.volunteers import lock_volunteer
from ledger.transfers import moves as transfers
from ledger.transfers.tables import VolunteerTransfer
from tests import factories as f
from tests.test_transfers_support import bal, posted_sum, publish, serve, service_days


def _setup(ctx, funding: str = "county"):
    units = f.tree(ctx)
    if funding != "county":
        publish(ctx, units["center"], dt.date(2019, 1, 1), funding=funding)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    volunteer_id = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2024, 1, 1))
    return units, recorder, approver, volunteer_id


def _transfer(ctx, principal, volunteer_id, to_unit_id, on, **extra):
    with ctx.uow() as uow:
        result = transfers.transfer_volunteer(
            uow.session, principal, transfers.TransferVolunteer(volunteer_id, to_unit_id, on, **extra),
            today=ctx.today(), future_limit_days=ctx.options["transfer_future_limit_days"])
        uow.commit()
    return result


def _homes(ctx, volunteer_id):
    with ctx.uow() as uow:
        rows = uow.session.execute(select(Membership).where(
            Membership.volunteer_id == volunteer_id, Membership.is_home.is_(True)).order_by(Membership.id)).scalars()
        return [(m.unit_id, m.valid_from, m.valid_to) for m in rows]


def test_unit_funded_points_move_hours_stay_and_a_late_record_posts_to_the_old_unit(ctx):
    units, recorder, approver, volunteer_id = _setup(ctx, funding="unit")
    a, b = units["station_a"], units["station_b"]
    serve(ctx, recorder, approver, volunteer_id, a, service_days(dt.date(2025, 1, 6), 3))
    # 3 × 480 min = 1440 min at A; 3 × 8 h × 10 = 240 points, funded by A (policy funding = "unit")
    assert (bal(ctx, "unit_minutes_served", a), bal(ctx, "unit_points_issued", a)) == (-1440, -240)
    result = _transfer(ctx, approver, volunteer_id, b, dt.date(2025, 2, 1))
    assert result["points_moved"] == 240 and result["from_unit_id"] == a
    # hours stay at A; the 240-point liability moves A → B; the volunteer keeps everything
    assert bal(ctx, "unit_minutes_served", a) == -1440 and bal(ctx, "unit_minutes_served", b) == 0
    assert (bal(ctx, "unit_points_issued", a), bal(ctx, "unit_points_issued", b)) == (0, -240)
    assert (bal(ctx, "volunteer_minutes", volunteer_id), bal(ctx, "volunteer_points", volunteer_id)) == (1440, 240)
    assert _homes(ctx, volunteer_id) == [(a, dt.date(2024, 1, 1), dt.date(2025, 2, 1)), (b, dt.date(2025, 2, 1), None)]
    # service at A on 2025-01-30 (before the move) recorded after it: A's hours, A funds the 20 points
    late_activity = f.activity(ctx, a, dt.date(2025, 1, 30))  # an activity of its own (caps sum an activity)
    f.served(ctx, recorder, approver, volunteer_id, late_activity, dt.datetime(2025, 1, 30, 9), 120)
    assert (bal(ctx, "unit_minutes_served", a), bal(ctx, "unit_points_issued", a)) == (-1560, -20)
    assert bal(ctx, "unit_points_issued", b) == -240
    # service at B after the move is funded by B
    serve(ctx, recorder, approver, volunteer_id, b, [dt.date(2025, 2, 3)], minutes=60)
    assert (bal(ctx, "unit_minutes_served", b), bal(ctx, "unit_points_issued", b)) == (-60, -250)


def test_county_funded_points_stay_inside_the_county(ctx):
    units, recorder, approver, volunteer_id = _setup(ctx)
    serve(ctx, recorder, approver, volunteer_id, units["station_a"], [dt.date(2025, 1, 6)], minutes=120)
    result = _transfer(ctx, approver, volunteer_id, units["station_b"], dt.date(2025, 2, 1))
    assert result["points_moved"] == 0 and result["transaction_id"] is None
    assert bal(ctx, "unit_points_issued", units["center"]) == -20  # 2 h × 10, still the county's
    with ctx.uow() as uow:
        assert uow.session.get(Volunteer, volunteer_id).home_unit_id == units["station_b"]


def test_moving_to_another_county_moves_county_funded_points(ctx):
    units, recorder, approver, volunteer_id = _setup(ctx)
    other = f.tree(ctx)
    serve(ctx, recorder, approver, volunteer_id, units["station_a"], [dt.date(2025, 1, 6)], minutes=120)
    result = _transfer(ctx, approver, volunteer_id, other["station_a"], dt.date(2025, 2, 1))
    assert result["points_moved"] == 20
    assert (bal(ctx, "unit_points_issued", units["center"]), bal(ctx, "unit_points_issued", other["center"])) == (0, -20)


def test_team_memberships_move_with_the_volunteer(ctx):
    from ledger.people import org
    units, _, approver, volunteer_id = _setup(ctx)
    with ctx.uow() as uow:
        old_team = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "文艺小队", units["station_a"], "文化文艺"))
        new_team = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "环保小队", units["station_b"], "卫生环保"))
        uow.session.add(Membership(volunteer_id=volunteer_id, unit_id=units["station_a"], team_id=old_team["id"],
                                   is_home=False, valid_from=dt.date(2024, 1, 1)))
        uow.commit()
    _transfer(ctx, approver, volunteer_id, units["station_b"], dt.date(2025, 2, 1),
              leave_team_ids=(old_team["id"],), join_team_ids=(new_team["id"],))
    with ctx.uow() as uow:
        history = transfers.membership_history(uow.session, approver, volunteer_id)["memberships"]
    teams = {(m["team_id"], m["valid_from"], m["valid_to"]) for m in history if m["team_id"]}
    assert teams == {(old_team["id"], "2024-01-01", "2025-02-01"), (new_team["id"], "2025-02-01", None)}


def _refused(ctx, principal, volunteer_id, to_unit_id, on, error):
    before = _homes(ctx, volunteer_id)
    with pytest.raises(error) as caught:
        _transfer(ctx, principal, volunteer_id, to_unit_id, on)
    assert _homes(ctx, volunteer_id) == before
    return caught.value


def test_bad_transfers_are_refused_and_change_nothing(ctx):
    units, _, approver, volunteer_id = _setup(ctx)
    b = units["station_b"]
    assert _refused(ctx, approver, volunteer_id, units["station_a"], dt.date(2025, 2, 1),
                    ValidationFailed).field == "to_unit_id"
    assert _refused(ctx, approver, volunteer_id, 10**9, dt.date(2025, 2, 1), UnknownUnit).field == "to_unit_id"
    early = _refused(ctx, approver, volunteer_id, b, dt.date(2023, 12, 31), ValidationFailed)
    assert early.field == "effective_on" and "joined" in early.message
    late = ctx.today() + dt.timedelta(days=31)  # the limit is 30 days ahead
    assert "30 days" in _refused(ctx, approver, volunteer_id, b, late, ValidationFailed).message
    # a station admin cannot move a volunteer into a unit outside their subtree
    station_admin, _ = f.user(ctx, "unit_admin", units["station_a"])
    _refused(ctx, station_admin, volunteer_id, b, dt.date(2025, 2, 1), UnknownUnit)
    assert _transfer(ctx, approver, volunteer_id, b, ctx.today() + dt.timedelta(days=30))["to_unit_id"] == b


def test_a_transfer_waits_for_a_redemption_in_flight(ctx):
    units, recorder, approver, volunteer_id = _setup(ctx)
    serve(ctx, recorder, approver, volunteer_id, units["station_a"], [dt.date(2025, 1, 6)], minutes=120)
    with ctx.uow() as uow:  # a reservation holds 15 of the 20 points, as the desk does
        s = uow.session
        post(s, kind="reservation", key=f.ref("hold"), occurred_on=dt.date(2025, 1, 7), actor="desk", legs=[
            Leg(account_id(s, "volunteer_points", volunteer_id), POINTS, -15, volunteer_id),
            Leg(account_id(s, "volunteer_points_held", volunteer_id), POINTS, 15, volunteer_id)],
            volunteer_id=volunteer_id)
        uow.commit()
    error = _refused(ctx, approver, volunteer_id, units["station_b"], dt.date(2025, 2, 1), RedemptionInFlight)
    assert error.details["points_held"] == 15


def _redeem(ctx, volunteer_id: int, desk_owner: int, points: int, barrier: threading.Barrier, errors: list):
    try:
        barrier.wait()
        with ctx.uow() as uow:
            s = uow.session
            lock_volunteer(s, volunteer_id)
            post(s, kind="redemption", key=f.ref("redeem"), occurred_on=dt.date(2025, 2, 1), actor="desk", legs=[
                Leg(account_id(s, "volunteer_points", volunteer_id), POINTS, -points, volunteer_id),
                Leg(account_id(s, "desk_points_redeemed", desk_owner), POINTS, points, volunteer_id)],
                volunteer_id=volunteer_id)
            uow.commit()
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def _move(ctx, principal, volunteer_id, to_unit_id, barrier, errors):
    try:
        barrier.wait()
        _transfer(ctx, principal, volunteer_id, to_unit_id, dt.date(2025, 2, 1))
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_concurrent_transfer_and_redemption_end_consistent(ctx):
    """Real threads: a transfer (unit funding, moves the balance) races a redemption of 30 points."""
    units, recorder, approver, _ = _setup(ctx, funding="unit")
    a, b = units["station_a"], units["station_b"]
    activity_id = f.activity(ctx, a, dt.date(2025, 1, 6))
    for _round in range(4):
        volunteer_id = f.volunteer(ctx, a, registered_on=dt.date(2024, 1, 1))
        serve(ctx, recorder, approver, volunteer_id, a, [dt.date(2025, 1, 6)], activity_id=activity_id)
        desk_owner = 10**8 + secrets.randbelow(10**8)
        before_a, before_b = bal(ctx, "unit_points_issued", a), bal(ctx, "unit_points_issued", b)
        barrier, errors = threading.Barrier(2), []
        threads = [threading.Thread(target=_redeem, args=(ctx, volunteer_id, desk_owner, 30, barrier, errors)),
                   threading.Thread(target=_move, args=(ctx, approver, volunteer_id, b, barrier, errors))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        # 480 min → 80 points funded by A; 30 redeemed. Either order is fine, but the figures agree:
        # redemption first → 50 move A → B (A keeps −30); transfer first → all 80 move (A keeps 0).
        with ctx.uow() as uow:
            moved = uow.session.execute(select(VolunteerTransfer.points_moved).where(
                VolunteerTransfer.volunteer_id == volunteer_id)).scalar_one()
        delta_a = bal(ctx, "unit_points_issued", a) - before_a
        delta_b = bal(ctx, "unit_points_issued", b) - before_b
        assert (moved, delta_a, delta_b) in {(50, 50, -50), (80, 80, -80)}
        assert bal(ctx, "volunteer_points", volunteer_id) == 50 and bal(ctx, "desk_points_redeemed", desk_owner) == 30
        for kind, owner in (("unit_points_issued", a), ("unit_points_issued", b), ("volunteer_points", volunteer_id)):
            assert bal(ctx, kind, owner) == posted_sum(ctx, kind, owner)
