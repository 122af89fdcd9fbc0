"""The targets report on a built data set, every figure computed by hand."""
from __future__ import annotations

import datetime as dt

import pytest

from ledger.errors import ValidationFailed
from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.rankings import targets
from tests import factories as f
from tests.test_rankings import TODAY, person


def build(ctx):
    """Institute (population 5000) with stations A (1200) and B (800); report for 2025-Q2.

    Team T1 (A): concentrated services Jan 12, Feb 10, Mar 10, Apr 14, May 12, Jun 9, Jun 16
      → 7 year to date (4 in Q2) against 12 × 6 / 12 = 6: met.
    Team T2 (B): concentrated Jan 13 and May 13 → 2 (1 in Q2): behind.
    Station B holds one more (not concentrated) activity on May 20; in Q2 it has nothing in
      April and June.  Station A has activities in April, May and June.
    Volunteers at home in A: p1 (party), p2 (party), n1; in B: p3 (party), n2.
    Served: p1 120 min (Apr 14), n1 300 (Jan 12) + 300 (May 12), p3 300 (May 13) → 1020 min.
    """
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    a, b = units["station_a"], units["station_b"]
    with ctx.uow() as uow:
        t1 = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "文艺支队", a, "文化文艺", "支队"))
        t2 = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "环保小队", b, "卫生环保"))
        uow.commit()
    t1_days = [(1, 12), (2, 10), (3, 10), (4, 14), (5, 12), (6, 9), (6, 16)]
    t1_acts = {day: f.activity(ctx, a, dt.date(2025, *day), team_id=t1["id"], is_concentrated=True)
               for day in t1_days}
    t2_jan = f.activity(ctx, b, dt.date(2025, 1, 13), team_id=t2["id"], is_concentrated=True)
    t2_may = f.activity(ctx, b, dt.date(2025, 5, 13), team_id=t2["id"], is_concentrated=True)
    f.activity(ctx, b, dt.date(2025, 5, 20))
    p1, _p2 = person(ctx, a, is_party_member=True), person(ctx, a, is_party_member=True)
    n1, p3, _n2 = person(ctx, a), person(ctx, b, is_party_member=True), person(ctx, b)
    f.served(ctx, recorder, approver, p1, t1_acts[(4, 14)], dt.datetime(2025, 4, 14, 9), 120)
    f.served(ctx, recorder, approver, n1, t1_acts[(1, 12)], dt.datetime(2025, 1, 12, 9), 300)
    f.served(ctx, recorder, approver, n1, t1_acts[(5, 12)], dt.datetime(2025, 5, 12, 9), 300)
    f.served(ctx, recorder, approver, p3, t2_may, dt.datetime(2025, 5, 13, 9), 300)
    assert t2_jan
    return units, t1, t2


def test_targets_report_for_a_quarter_gives_the_hand_computed_figures(ctx):
    units, t1, t2 = build(ctx)
    with ctx.uow() as uow:
        report = targets.make_report(uow.session, SYSTEM, units["institute"], "2025-Q2", TODAY)
        uow.commit()
    figures = report["figures"]
    assert report["due_on"] == "2025-07-05"
    teams = {t["team_id"]: t for t in figures["teams"]}
    assert (teams[t1["id"]]["in_period"], teams[t1["id"]]["year_to_date"], teams[t1["id"]]["is_met"]) == (4, 7, True)
    assert (teams[t2["id"]]["in_period"], teams[t2["id"]]["year_to_date"], teams[t2["id"]]["is_met"]) == (1, 2, False)
    assert teams[t1["id"]]["target_year_to_date"] == 6
    stations = {s["unit_id"]: s for s in figures["stations"]}
    assert stations[units["station_a"]]["months_without_activity"] == []
    assert stations[units["station_b"]]["months_without_activity"] == ["2025-04", "2025-06"]
    # party: 3 members, 2 served (p1, p3): 66.67 % < 80 %
    assert figures["party"] == {"members": 3, "served": 2, "rate_percent": "66.67", "target_percent": "80.00",
                                "is_met": False}
    # hours: 1020 min = 17 h over 5 registered volunteers = 3.4 h; target 20 × 6 / 12 = 10 h
    hours = figures["hours"]
    assert (hours["volunteers"], hours["minutes"], hours["average_hours"], hours["target_hours"],
            hours["is_met"]) == (5, 1020, "3.40", "10", False)
    # residents: 3 served of 5000 = 0.06 %; A: p1, n1 of 1200 = 0.17 %; B: p3 of 800 = 0.125 → 0.13 %
    residents = figures["residents"]
    assert (residents["served"], residents["population"], residents["rate_percent"]) == (3, 5000, "0.06")
    by_unit = {r["unit_id"]: r for r in residents["by_unit"]}
    assert (by_unit[units["station_a"]]["served"], by_unit[units["station_a"]]["rate_percent"]) == (2, "0.17")
    assert (by_unit[units["station_b"]]["served"], by_unit[units["station_b"]]["rate_percent"]) == (1, "0.13")


def test_a_first_quarter_report_counts_only_january_to_march(ctx):
    units, t1, t2 = build(ctx)
    with ctx.uow() as uow:
        figures = targets.preview(uow.session, SYSTEM, units["institute"], "2025-Q1", TODAY)
    teams = {t["team_id"]: t for t in figures["teams"]}
    assert (teams[t1["id"]]["year_to_date"], teams[t1["id"]]["target_year_to_date"]) == (3, 3)
    # only n1's 300 min on Jan 12: 5 h over 5 volunteers = 1 h against 5 h
    assert (figures["hours"]["minutes"], figures["hours"]["average_hours"], figures["hours"]["target_hours"]) == \
        (300, "1.00", "5")
    stations = {s["unit_id"]: s for s in figures["stations"]}
    assert stations[units["station_a"]]["months_without_activity"] == []
    assert stations[units["station_b"]]["months_without_activity"] == ["2025-02", "2025-03"]


def test_targets_of_a_period_not_ended_are_refused(ctx):
    units = f.tree(ctx)
    with ctx.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            targets.make_report(uow.session, SYSTEM, units["center"], "2026-Q4", TODAY)
    assert caught.value.field == "period"


def test_reversals_count_by_the_service_date_of_their_record(ctx):
    """A reversal is dated the day it is posted; it counts where its record was served.

    n2 (B) served 240 min on 2024-12-16, reversed on 2025-04-20: the year-to-date window of
    2025-Q2 holds the reversal's postings but not the record, so nothing changes (a reversal
    read by its own date would take 240 min off).  p2 (A) served 180 min on 2025-06-09,
    reversed on 2025-08-01, after Q2 but before the report: that record nets 0 and p2 has
    not served.  Everything else as in `build`: 1020 min, party 2 of 3 served."""
    from ledger.service import records as service_records

    units, t1, _ = build(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    with ctx.uow() as uow:
        from sqlalchemy import select

        from ledger.people.tables import Volunteer
        rows = uow.session.execute(select(Volunteer.id, Volunteer.home_unit_id, Volunteer.is_party_member)
                                   .where(Volunteer.home_unit_id.in_([units["station_a"], units["station_b"]]))
                                   .order_by(Volunteer.id)).all()
    n2 = [v for v, home, party in rows if home == units["station_b"] and not party][0]
    p2 = [v for v, home, party in rows if home == units["station_a"] and party][1]
    old = f.served(ctx, recorder, approver, n2, f.activity(ctx, units["station_b"], dt.date(2024, 12, 16)),
                   dt.datetime(2024, 12, 16, 9), 240)
    late = f.served(ctx, recorder, approver, p2, f.activity(ctx, units["station_a"], dt.date(2025, 6, 9)),
                    dt.datetime(2025, 6, 9, 9), 180)
    for record_id, day in ((old, dt.date(2025, 4, 20)), (late, dt.date(2025, 8, 1))):
        with ctx.uow() as uow:
            service_records.reverse_record(uow.session, approver, record_id, "录入错误", day)
            uow.commit()
    with ctx.uow() as uow:
        figures = targets.preview(uow.session, SYSTEM, units["institute"], "2025-Q2", TODAY)
    assert (figures["hours"]["minutes"], figures["served_volunteers"]) == (1020, 3)
    assert (figures["party"]["members"], figures["party"]["served"]) == (3, 2)
    by_unit = {r["unit_id"]: r["served"] for r in figures["residents"]["by_unit"]}
    assert (by_unit[units["station_a"]], by_unit[units["station_b"]]) == (2, 1)


def test_the_report_of_a_station_without_units_under_it(ctx):
    units, _, _ = build(ctx)
    with ctx.uow() as uow:
        figures = targets.preview(uow.session, SYSTEM, units["station_b"], "2025-Q2", TODAY)
    assert figures["residents"]["by_unit"] == [] and figures["hours"]["volunteers"] == 2
