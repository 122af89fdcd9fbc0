"""Selection rules counties write (评先评优), worked by hand: tie-breaks by dates, the
eligibility rules, runs as of a cut-off date (截至日期), and the definitions refused."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from sqlalchemy import func, select

from ledger.errors import ValidationFailed
from ledger.people.access import SYSTEM
from ledger.rankings import runs as rankings
from ledger.rankings.tables import RankingDefinition, RankingRun
from ledger.service import ratings
from tests import factories as f
from tests.test_rankings import TODAY, by_subject, define, entries, person, run

CJK = re.compile(r"[\u4e00-\u9fff]")


def serve_plan(ctx, plan: dict, **people) -> tuple[dict, dict, dict]:
    """Register one volunteer per key of `plan` at station A and post their services:
    plan[key] = [(date, minutes), ...], each service in an activity of its own."""
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    ids, records = {}, {}
    for key, services in plan.items():
        ids[key] = person(ctx, units["station_a"], **{"name": key, **people.get(key, {})})
        for day, minutes in services:
            activity = f.activity(ctx, units["station_a"], day)
            records.setdefault(key, []).append(f.served(ctx, recorder, approver, ids[key], activity,
                                                        dt.datetime.combine(day, dt.time(8)), minutes))
    return units, ids, {"records": records, "approver": approver}


THRESHOLD_PLAN = {
    "p1": [(dt.date(2025, 3, 10), 120), (dt.date(2025, 5, 12), 120), (dt.date(2025, 9, 10), 60)],
    "p2": [(dt.date(2025, 2, 10), 240), (dt.date(2025, 10, 10), 60)],
    "p3": [(dt.date(2025, 4, 10), 60), (dt.date(2025, 4, 11), 60), (dt.date(2025, 4, 14), 180)],
}


def order_of(rows, ids) -> list[str]:
    names = {subject: key for key, subject in ids.items()}
    return [names[row["subject_id"]] for row in sorted((r for r in rows if r["rank"]), key=lambda r: r["rank"])]


def test_ties_are_broken_by_the_day_the_threshold_was_met_or_by_the_last_service(ctx):
    """All three served 300 minutes in 2025 (50 points: 10 an hour); at least 4 hours to qualify.

    Running minutes: p1 120 (03-10), 240 (05-12) -> reached 2025-05-12; p2 240 on 02-10 -> reached
    2025-02-10; p3 60, 120, 300 -> reached 2025-04-14.  Earlier first: p2, p3, p1.
    Last services: p1 09-10, p2 10-10, p3 04-14.  Later first: p2, p1, p3; earlier first: p3, p1, p2."""
    units, ids, _ = serve_plan(ctx, THRESHOLD_PLAN)
    base = {"eligibility": {"min_hours": 4}, "quota": {"top_n": 3}}
    by_threshold = define(ctx, units, tie_break=["threshold_reached", "id"], **base)
    rows = entries(ctx, run(ctx, by_threshold["id"])["id"])
    assert order_of(rows, ids) == ["p2", "p3", "p1"]
    dates = {row["subject_id"]: (row["minutes"], row["threshold_on"], row["last_service_on"]) for row in rows}
    assert dates[ids["p1"]] == (300, "2025-05-12", "2025-09-10")
    assert dates[ids["p2"]] == (300, "2025-02-10", "2025-10-10")
    assert dates[ids["p3"]] == (300, "2025-04-14", "2025-04-14")
    by_last = define(ctx, units, tie_break=["last_service"], **base)
    assert order_of(entries(ctx, run(ctx, by_last["id"])["id"]), ids) == ["p2", "p1", "p3"]
    earliest_last = define(ctx, units, tie_break=[{"by": "last_service", "order": "asc"}], **base)
    assert earliest_last["document"]["tie_break"] == [{"by": "last_service", "order": "asc"}]
    assert order_of(entries(ctx, run(ctx, earliest_last["id"])["id"]), ids) == ["p3", "p1", "p2"]


def test_the_threshold_day_is_when_hours_and_points_are_both_met(ctx):
    """At least 4 hours and 45 points (10 points an hour).
    p1: 20, 40 points by 05-12 (240 min), 50 on 09-10 -> 2025-09-10;
    p2: 40 points on 02-10, 50 on 10-10 -> 2025-10-10; p3: 10, 20, 50 on 04-14 -> 2025-04-14.
    Earlier first: p3, p1, p2."""
    units, ids, _ = serve_plan(ctx, THRESHOLD_PLAN)
    definition = define(ctx, units, tie_break=["threshold_reached"], quota={"top_n": 3},
                        eligibility={"min_hours": 4, "min_points": 45})
    rows = entries(ctx, run(ctx, definition["id"])["id"])
    assert order_of(rows, ids) == ["p3", "p1", "p2"]
    assert {r["subject_id"]: r["threshold_on"] for r in rows} == {
        ids["p1"]: "2025-09-10", ids["p2"]: "2025-10-10", ids["p3"]: "2025-04-14"}


def test_a_metric_as_a_tie_break_in_the_order_the_definition_gives(ctx):
    """Ranked by hours (all 300), then by activities (p1 and p3: 3, p2: 2), then the earlier
    threshold day: p3 (04-14) before p1 (05-12); p2 last."""
    units, ids, _ = serve_plan(ctx, THRESHOLD_PLAN)
    definition = define(ctx, units, tie_break=["activities", "threshold_reached"], quota={"top_n": 3},
                        eligibility={"min_hours": 4})
    assert order_of(entries(ctx, run(ctx, definition["id"])["id"]), ids) == ["p3", "p1", "p2"]


def _uphold_complaint(ctx, approver, record_id):
    with ctx.uow() as uow:
        ratings.rate_record(uow.session, approver, record_id, ratings.RateService(complaint_upheld=True), TODAY)
        uow.commit()


ELIGIBILITY_PLAN = {
    "ok": [(dt.date(2025, 3, 10), 60), (dt.date(2025, 3, 11), 60), (dt.date(2025, 3, 12), 60)],
    "one_activity": [(dt.date(2025, 3, 10), 180)],
    "few_points": [(dt.date(2025, 3, 10), 60), (dt.date(2025, 3, 11), 60)],
    "complaint": [(dt.date(2025, 3, 10), 120), (dt.date(2025, 3, 11), 120), (dt.date(2025, 3, 12), 120)],
    "newcomer": [(dt.date(2025, 10, 13), 60), (dt.date(2025, 10, 14), 60), (dt.date(2025, 10, 15), 60)],
}


def test_each_eligibility_rule_refuses_exactly_the_volunteer_it_names(ctx):
    """Rules: at least 2 hours, 25 points, 2 activities, no upheld complaint in 2025, registered
    for 6 months at the end of 2025 (on or before 2025-06-30).
    ok: 180 min, 30 points, 3 activities, registered 2020 -> eligible.
    one_activity: 180 min, 30 points, 1 activity -> 活动次数不足.
    few_points: 120 min, 20 points -> 积分不足.
    complaint: 360 min, 60 points; a complaint upheld against one record -> 期间内有成立的投诉.
    newcomer: registered 2025-09-01, 180 min in October -> 注册时间不足."""
    units, ids, world = serve_plan(ctx, ELIGIBILITY_PLAN, newcomer={"registered_on": dt.date(2025, 9, 1)})
    _uphold_complaint(ctx, world["approver"], world["records"]["complaint"][0])
    definition = define(ctx, units, tie_break=[], quota={"top_n": 5}, eligibility={
        "min_hours": 2, "min_points": 25, "min_activities": 2, "no_upheld_complaint": True,
        "min_registration_months": 6})
    result = run(ctx, definition["id"])
    assert (result["candidates"], result["eligible"]) == (5, 1)
    rows = by_subject(entries(ctx, result["id"]))
    reasons = {key: rows[ids[key]]["reasons"] for key in ids}
    assert reasons == {"ok": [], "one_activity": ["活动次数不足"], "few_points": ["积分不足"],
                       "complaint": ["期间内有成立的投诉"], "newcomer": ["注册时间不足"]}
    assert (rows[ids["complaint"]]["minutes"], rows[ids["complaint"]]["upheld_complaints"]) == (360, 1)
    assert rows[ids["newcomer"]]["registered_on"] == "2025-09-01"
    with ctx.uow() as uow:
        assert rankings.reproduce(uow.session, SYSTEM, result["id"])["matches"]


def test_a_run_as_of_a_cut_off_inside_a_running_period_counts_up_to_that_day(ctx):
    """2026 is still running on 2026-11-23.  r1 serves 120 min on 03-10 and 240 min on 09-10;
    r2 180 min on 05-11.  As of 2026-06-30: r2 180 before r1 120.  As of 2026-09-30: r1 360 first."""
    units, ids, world = serve_plan(ctx, {
        "r1": [(dt.date(2026, 3, 10), 120), (dt.date(2026, 9, 10), 240)], "r2": [(dt.date(2026, 5, 11), 180)]})
    definition = define(ctx, units, eligibility={}, quota={"top_n": 1}, tie_break=[])
    june = run(ctx, definition["id"], period="2026", as_of=dt.date(2026, 6, 30))
    assert (june["as_of"], june["is_provisional"], june["counted_to"]) == ("2026-06-30", True, "2026-06-30")
    assert "截至 2026-06-30" in june["basis_label"] and june["period_end"] == "2026-12-31"
    rows = by_subject(entries(ctx, june["id"]))
    assert [(rows[ids[k]]["rank"], rows[ids[k]]["minutes"]) for k in ("r2", "r1")] == [(1, 180), (2, 120)]
    september = run(ctx, definition["id"], period="2026", as_of="2026-09-30")
    rows = by_subject(entries(ctx, september["id"]))
    assert [(rows[ids[k]]["rank"], rows[ids[k]]["minutes"]) for k in ("r1", "r2")] == [(1, 360), (2, 180)]
    # the same cut-off at the same position is the same run; a service of June recorded later is
    # not in it (reproducible), but a new run as of the same day sees it
    assert run(ctx, definition["id"], period="2026", as_of="2026-06-30")["id"] == june["id"]
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    late = f.activity(ctx, units["station_a"], dt.date(2026, 6, 15))
    f.served(ctx, recorder, world["approver"], ids["r1"], late, dt.datetime(2026, 6, 15, 8), 120)
    with ctx.uow() as uow:
        assert rankings.reproduce(uow.session, SYSTEM, june["id"])["matches"]
    again = by_subject(entries(ctx, run(ctx, definition["id"], period="2026", as_of="2026-06-30")["id"]))
    assert again[ids["r1"]]["minutes"] == 240 and again[ids["r1"]]["rank"] == 1


def test_the_final_run_supersedes_the_one_made_as_of_a_cut_off(ctx):
    """2025 as of 2025-06-30: p1 120 + 120 = 240, p2 240, p3 300 min; the final run (whole year) 300 each."""
    units, ids, _ = serve_plan(ctx, THRESHOLD_PLAN)
    definition = define(ctx, units, eligibility={}, quota={"top_n": 3}, tie_break=["last_service"])
    early = run(ctx, definition["id"], as_of=dt.date(2025, 6, 30))
    assert {r["subject_id"]: r["minutes"] for r in entries(ctx, early["id"])} == {
        ids["p1"]: 240, ids["p2"]: 240, ids["p3"]: 300}
    final = run(ctx, definition["id"])
    assert final["as_of"] is None and not final["is_provisional"]
    # a cut-off on the last day of a finished period is the period's own run
    assert run(ctx, definition["id"], as_of="2025-12-31")["id"] == final["id"]
    with ctx.uow() as uow:
        rankings.publish_run(uow.session, SYSTEM, early["id"])
        rankings.supersede_run(uow.session, SYSTEM, early["id"], final["id"], "年度终了，以全年结果为准")
        rankings.publish_run(uow.session, SYSTEM, final["id"])
        uow.commit()
    with ctx.uow() as uow:
        assert rankings.official_run(uow.session, definition["code"], "2025").id == final["id"]


@pytest.mark.parametrize("period, as_of", [("2026", "2027-01-01"), ("2026", "2025-12-31"), ("2026", "2026-12-01"),
                                           ("2026-Q2", "2026-07-01"), ("2026", "30/06/2026")])
def test_a_cut_off_outside_the_period_or_after_today_is_refused_naming_as_of(ctx, period, as_of):
    units = f.tree(ctx)
    definition = define(ctx, units, period_kind="quarter" if "Q" in period else "year")
    with ctx.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            rankings.run_ranking(uow.session, SYSTEM, definition["id"], period, TODAY, as_of=as_of)
        assert caught.value.field == "as_of" and CJK.search(caught.value.message)
        assert uow.session.execute(select(func.count()).select_from(RankingRun)
                                   .where(RankingRun.definition_id == definition["id"])).scalar_one() == 0


@pytest.mark.parametrize("change, field", [
    ({"tie_break": ["coin_toss"]}, "tie_break[0]"),
    ({"tie_break": [{"by": "coin_toss"}]}, "tie_break[0].by"),
    ({"tie_break": [{"by": "last_service", "order": "sideways"}]}, "tie_break[0].order"),
    ({"tie_break": [{"by": "last_service", "weight": 2}]}, "tie_break[0].weight"),
    ({"tie_break": ["last_service", {"by": "last_service", "order": "asc"}]}, "tie_break[1]"),
    ({"tie_break": ["id", "threshold_reached"], "eligibility": {}}, "tie_break[1]"),
    ({"subject": "team", "tie_break": [], "eligibility": {"min_registration_months": 6}},
     "eligibility.min_registration_months"),
    ({"eligibility": {"min_points": -1}}, "eligibility.min_points"),
    ({"eligibility": {"no_upheld_complaint": "yes"}}, "eligibility.no_upheld_complaint"),
    ({"notice_days": 0}, "notice_days"),
])
def test_contradictory_or_unknown_rules_are_refused_in_chinese_and_nothing_is_stored(ctx, change, field):
    units = f.tree(ctx)
    doc = {"code": f.ref("bad"), "name": "坏定义", "unit_id": units["center"], "period_kind": "year",
           "metrics": ["hours"], **change}
    with ctx.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            rankings.define_ranking(uow.session, SYSTEM, doc)
    assert caught.value.field == field and CJK.search(caught.value.message), caught.value.message
    with ctx.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(RankingDefinition)
                                   .where(RankingDefinition.code == doc["code"])).scalar_one() == 0


def test_an_older_document_keeps_its_version_when_the_new_rules_are_not_used(ctx):
    """New rules at their defaults stay out of the normalised document (same content hash)."""
    units = f.tree(ctx)
    first = define(ctx, units)
    assert set(first["document"]["eligibility"]) == {"min_minutes", "min_hours_basis", "min_star_level",
                                                     "no_reversed_records", "active_membership"}
    assert "notice_days" not in first["document"]
    with ctx.uow() as uow:
        same = rankings.define_ranking(uow.session, SYSTEM, {**first["document"], "eligibility": {
            "min_hours": 2, "min_points": 0, "no_upheld_complaint": False}, "notice_days": 7})
    assert same["id"] == first["id"]


def test_a_targets_report_quarter_to_date_as_of_a_cut_off(ctx):
    """tests.test_targets.build, reported for 2025-Q2 as of 2025-05-12 (4 whole months elapsed).

    T1 concentrated Jan 12, Feb 10, Mar 10, Apr 14, May 12 -> 5 year to date (2 in Q2) against
    12 x 4 / 12 = 4: met.  T2: Jan 13 only (May 13 is after the cut-off) -> 1: behind.
    Stations in April and May to the 12th: A has Apr 14 and May 12; B nothing (May 13, 20 later).
    Served to the cut-off: p1 120 (Apr 14), n1 300 + 300 -> 720 min; party members who served: p1 of
    3 = 33.33 %; 720 min / 5 volunteers = 2.4 h against 20 h x 4 / 12 = 400 min = 6.67 h."""
    from ledger.rankings import targets
    from tests.test_targets import build as build_targets

    units, t1, t2 = build_targets(ctx)
    with ctx.uow() as uow:
        report = targets.make_report(uow.session, SYSTEM, units["institute"], "2025-Q2", TODAY, as_of="2025-05-12")
        uow.commit()
    figures = report["figures"]
    assert (report["as_of"], report["is_provisional"], report["due_on"]) == ("2025-05-12", True, None)
    assert "截至 2025-05-12" in figures["basis_label"] and figures["months_elapsed"] == 4
    teams = {t["team_id"]: t for t in figures["teams"]}
    assert (teams[t1["id"]]["in_period"], teams[t1["id"]]["year_to_date"], teams[t1["id"]]["target_year_to_date"],
            teams[t1["id"]]["is_met"]) == (2, 5, 4, True)
    assert (teams[t2["id"]]["year_to_date"], teams[t2["id"]]["is_met"]) == (1, False)
    stations = {s["unit_id"]: s["months_without_activity"] for s in figures["stations"]}
    assert (stations[units["station_a"]], stations[units["station_b"]]) == ([], ["2025-04", "2025-05"])
    assert (figures["party"]["served"], figures["party"]["rate_percent"]) == (1, "33.33")
    hours = figures["hours"]
    assert (hours["minutes"], hours["average_hours"], hours["target_hours"]) == (720, "2.40", "6.67")
    with ctx.uow() as uow:
        for as_of in ("2025-07-01", "2025-03-31", "2026-11-24"):
            with pytest.raises(ValidationFailed) as caught:
                targets.make_report(uow.session, SYSTEM, units["institute"], "2025-Q2", TODAY, as_of=as_of)
            assert caught.value.field == "as_of" and CJK.search(caught.value.message)
        # the year to date of a running year: 2026 as of 2026-06-30 (nothing served in 2026 here)
        running = targets.preview(uow.session, SYSTEM, units["institute"], "2026", TODAY, as_of="2026-06-30")
    assert (running["counted_to"], running["months_elapsed"], running["hours"]["minutes"]) == ("2026-06-30", 6, 0)


def test_every_export_of_a_cut_off_run_says_so(ctx):
    """A run of 2026 as of 2026-06-30: the overview, every row of each unit's sheet and of the CSV,
    and the targets workbook carry 截至 2026-06-30（非全期统计，非最终结果）."""
    import io

    import pandas as pd

    from ledger.rankings import exports as rank_exports, targets

    units, ids, _ = serve_plan(ctx, {"r1": [(dt.date(2026, 3, 10), 120)], "r2": [(dt.date(2026, 5, 11), 180)]})
    definition = define(ctx, units, eligibility={}, tie_break=[{"by": "last_service", "order": "asc"}])
    result = run(ctx, definition["id"], period="2026", as_of="2026-06-30")
    label = "截至 2026-06-30（非全期统计，非最终结果）"
    with ctx.uow() as uow:
        workbook = rank_exports.ranking_xlsx(uow.session, SYSTEM, result["id"])
        csv = rank_exports.ranking_csv(uow.session, SYSTEM, result["id"]).decode("utf-8-sig")
        figures = targets.preview(uow.session, SYSTEM, units["institute"], "2026", TODAY, as_of="2026-06-30")
    sheets = pd.read_excel(io.BytesIO(workbook), sheet_name=None)
    about = dict(zip(sheets["说明"]["项目"], sheets["说明"]["内容"]))
    assert about["统计口径"] == label and "最后一次服务" in about["并列处理"]
    station = sheets[list(sheets)[1]]  # the one quota group: the institute under the center
    assert list(station["名称"]) == ["r2", "r1"] and set(station["统计口径"]) == {label}
    assert list(station["最后服务日期"]) == ["2026-05-11", "2026-03-10"]
    lines = csv.splitlines()
    assert lines[0].endswith("统计口径") and all(line.endswith(label) for line in lines[1:]) and len(lines) == 3
    overview = pd.read_excel(io.BytesIO(rank_exports.targets_xlsx(figures)), sheet_name="总览")
    assert dict(zip(overview["指标"], overview["数值"]))["统计口径"] == label


def expected_dates(services: list[tuple[dt.date, int]], min_minutes: int) -> tuple[str | None, str]:
    """The threshold day and the last service, by hand: the running minutes in service order."""
    total, reached = 0, None
    for day, minutes in sorted(services):
        total += minutes
        if reached is None and total >= min_minutes:
            reached = day.isoformat()
    return reached, max(services)[0].isoformat()


DAYS = st.lists(st.integers(min_value=0, max_value=360), min_size=1, max_size=4, unique=True)
PLANS = st.lists(st.tuples(DAYS, st.lists(st.sampled_from([30, 60, 90, 120, 180, 300]), min_size=4, max_size=4)),
                 min_size=2, max_size=3)


@settings(max_examples=5, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=PLANS, min_hours=st.integers(min_value=1, max_value=6))
def test_the_sql_threshold_day_and_order_agree_with_the_running_sum_on_random_plans(ctx, plans, min_hours):
    """Random services in 2025 (each volunteer on distinct days); the run's threshold day, last
    service and order (hours, then the earlier threshold day, then the id) equal `expected_dates`."""
    plan = {f"h{index}": [(dt.date(2025, 1, 1) + dt.timedelta(days=day), minutes[n]) for n, day in enumerate(days)]
            for index, (days, minutes) in enumerate(plans)}
    units, ids, _ = serve_plan(ctx, plan)
    definition = define(ctx, units, tie_break=["threshold_reached", "id"], quota={"top_n": 3},
                        eligibility={"min_hours": min_hours})
    rows = entries(ctx, run(ctx, definition["id"])["id"])
    found = {row["subject_id"]: (row["threshold_on"], row["last_service_on"]) for row in rows}
    assert found == {ids[key]: expected_dates(services, min_hours * 60) for key, services in plan.items()}
    eligible = [key for key, services in plan.items() if sum(m for _, m in services) >= min_hours * 60]
    by_hand = sorted(eligible, key=lambda key: (-sum(m for _, m in plan[key]),
                                                expected_dates(plan[key], min_hours * 60)[0], ids[key]))
    assert order_of(rows, ids) == by_hand
