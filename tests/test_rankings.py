"""Commendation rankings (评先评优) worked by hand: ties broken as configured, quotas, snapshots
that re-compute the same at their ledger position, publication and bad input."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, select, update

from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.people.access import SYSTEM
from ledger.people.tables import Volunteer
from ledger.rankings import runs as rankings
from ledger.rankings.tables import RankingDefinition, RankingRun
from ledger.service import records as service_records
from tests import factories as f

TODAY = dt.date(2026, 11, 23)


def person(ctx, unit_id, **kwargs) -> int:
    """A volunteer with an ID-card number unlikely to collide (random birth date too)."""
    birth = f"19{secrets.randbelow(80) + 10:02d}{secrets.randbelow(12) + 1:02d}{secrets.randbelow(28) + 1:02d}"
    return f.volunteer(ctx, unit_id, id_number=f.random_id_number(birth), **kwargs)


def build(ctx):
    """Five volunteers serving in 2025 (no date tag: never the 5th; 10 points an hour).

    v1 (station A): 120 + 60 + 60 = 240 min in 3 activities, 40 points
    v2 (station A, registered 2020-01-01): 180 + 60 = 240 min in 2 activities
    v5 (station A, registered 2019-06-01): 120 + 120 = 240 min in 2 activities
    v3 (station B): 300 min in 1 activity, 50 points
    v4 (station B): 60 min — below a 2-hour minimum
    """
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    a, b = units["station_a"], units["station_b"]
    v = {"v1": person(ctx, a, name="甲"), "v2": person(ctx, a, name="乙"),
         "v3": person(ctx, b, name="丙"), "v4": person(ctx, b, name="丁"),
         "v5": person(ctx, a, name="戊", registered_on=dt.date(2019, 6, 1))}
    acts = [f.activity(ctx, a, dt.date(2025, 3, day)) for day in (10, 11, 12)]
    act_b = f.activity(ctx, b, dt.date(2025, 6, 16))
    plan = [("v1", acts[0], 120), ("v1", acts[1], 60), ("v1", acts[2], 60),
            ("v2", acts[0], 180), ("v2", acts[1], 60), ("v5", acts[0], 120), ("v5", acts[2], 120),
            ("v3", act_b, 300), ("v4", act_b, 60)]
    records = {}
    for who, activity_id, minutes in plan:
        held_on = {acts[0]: 10, acts[1]: 11, acts[2]: 12}.get(activity_id)
        start = dt.datetime(2025, 3, held_on, 8) if held_on else dt.datetime(2025, 6, 16, 8)
        records.setdefault(who, []).append(
            f.served(ctx, recorder, approver, v[who], activity_id, start, minutes))
    return units, v, records, approver


def define(ctx, units, **overrides):
    doc = {"code": f.ref("county-year"), "name": "2025年度优秀志愿者", "unit_id": units["center"],
           "period_kind": "year", "subject": "volunteer", "metrics": ["hours"],
           "eligibility": {"min_hours": 2}, "quota": {"top_n": 2},
           "tie_break": ["activities", "earlier_registration"]}
    doc.update(overrides)
    with ctx.uow() as uow:
        result = rankings.define_ranking(uow.session, SYSTEM, doc)
        uow.commit()
    return result


def run(ctx, definition_id, period="2025", **kwargs):
    with ctx.uow() as uow:
        result = rankings.run_ranking(uow.session, SYSTEM, definition_id, period, TODAY, **kwargs)
        uow.commit()
    return result


def entries(ctx, run_id):
    with ctx.uow() as uow:
        return rankings.run_entries(uow.session, SYSTEM, run_id)


def by_subject(rows):
    return {row["subject_id"]: row for row in rows}


def test_hours_ranking_breaks_ties_by_activities_then_earlier_registration(ctx):
    units, v, _, _ = build(ctx)
    definition = define(ctx, units)
    result = run(ctx, definition["id"])
    assert (result["candidates"], result["eligible"], result["shortlisted"]) == (5, 4, 2)
    rows = by_subject(entries(ctx, result["id"]))
    # v3 300 min first; v1, v5, v2 all 240 min: v1 has 3 activities; v5 registered before v2
    assert [rows[v[k]]["rank"] for k in ("v3", "v1", "v5", "v2")] == [1, 2, 3, 4]
    assert rows[v["v4"]]["rank"] is None and rows[v["v4"]]["reasons"] == ["时长不足"]
    assert [k for k in v if rows[v[k]]["is_shortlisted"]] == ["v1", "v3"]
    assert (rows[v["v1"]]["minutes"], rows[v["v1"]]["hours"], rows[v["v1"]]["points"],
            rows[v["v1"]]["activities"], rows[v["v1"]]["tx_count"]) == (240, "4", 40, 3, 3)
    assert rows[v["v3"]]["points"] == 50 and rows[v["v4"]]["hours"] == "1"


def test_tie_break_order_is_what_the_definition_says(ctx):
    units, v, _, _ = build(ctx)
    # registration first: v5 (2019) before v1 and v2 (2020), then v1/v2 by the volunteer id
    definition = define(ctx, units, tie_break=["earlier_registration", "id"], quota={"top_n": 10})
    rows = by_subject(entries(ctx, run(ctx, definition["id"])["id"]))
    first, second = sorted((v["v1"], v["v2"]))
    assert [rows[x]["rank"] for x in (v["v3"], v["v5"], first, second)] == [1, 2, 3, 4]


def test_per_unit_quota_and_top_share(ctx):
    units, v, _, _ = build(ctx)
    # rooted at the institute, the quota groups are its stations A and B; top 1 each
    per_unit = define(ctx, units, unit_id=units["institute"], quota={"top_n": 1, "per": "unit"})
    rows = by_subject(entries(ctx, run(ctx, per_unit["id"])["id"]))
    assert rows[v["v1"]]["group_unit_id"] == units["station_a"] and rows[v["v3"]]["group_unit_id"] == units["station_b"]
    assert [k for k in v if rows[v[k]]["is_shortlisted"]] == ["v1", "v3"]
    assert (rows[v["v1"]]["rank"], rows[v["v5"]]["rank"], rows[v["v2"]]["rank"], rows[v["v3"]]["rank"]) == (1, 2, 3, 1)
    # top 50 % of 4 eligible = 2; 10 % of 4 = 0.4, rounds down to 0 but at least one is named
    half = define(ctx, units, quota={"top_share": "50%"})
    assert run(ctx, half["id"])["shortlisted"] == 2
    tenth = define(ctx, units, quota={"top_share": "0.1"})
    assert run(ctx, tenth["id"])["shortlisted"] == 1


def _rate(ctx, approver, record_id, rating):
    from ledger.service import ratings

    with ctx.uow() as uow:
        ratings.rate_record(uow.session, approver, record_id, ratings.RateService(rating=rating), TODAY)
        uow.commit()


def test_rating_then_points_and_a_rating_after_the_position_is_not_seen(ctx):
    units, v, records, approver = build(ctx)
    # 评单: v1's first two records 5 and 4 (average 4.5); v3's only record 3; nobody else rated
    _rate(ctx, approver, records["v1"][0], 5)
    _rate(ctx, approver, records["v1"][1], 4)
    _rate(ctx, approver, records["v3"][0], 3)
    definition = define(ctx, units, metrics=["rating", "points"], quota={"top_n": 1}, tie_break=[],
                        eligibility={})
    first = run(ctx, definition["id"])
    rows = by_subject(entries(ctx, first["id"]))
    assert (rows[v["v1"]]["rank"], rows[v["v1"]]["rating"], rows[v["v1"]]["rating_count"]) == (1, "4.50", 2)
    assert (rows[v["v3"]]["rank"], rows[v["v3"]]["rating"]) == (2, "3.00")
    # unrated: by points (v4 10 points last); v2 and v5 both 40 points, then by id
    unrated = sorted((v["v2"], v["v5"]))
    assert [rows[x]["rank"] for x in unrated + [v["v4"]]] == [3, 4, 5]
    # v2 rated 5 later: a run at the earlier position does not see it; a new one does
    _rate(ctx, approver, records["v2"][0], 5)
    with ctx.uow() as uow:
        assert rankings.reproduce(uow.session, SYSTEM, first["id"])["matches"]
    rows = by_subject(entries(ctx, run(ctx, definition["id"])["id"]))
    assert (rows[v["v2"]]["rank"], rows[v["v2"]]["rating"]) == (1, "5.00")


def test_a_rerun_at_the_recorded_position_is_the_same_snapshot_after_new_postings(ctx):
    units, v, records, approver = build(ctx)
    definition = define(ctx, units)
    first = run(ctx, definition["id"])
    position = first["ledger_position"]
    # later: v2 serves 2 more hours in 2025 and v3's record is reversed
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    late = f.activity(ctx, units["station_a"], dt.date(2025, 12, 16))
    f.served(ctx, recorder, approver, v["v2"], late, dt.datetime(2025, 12, 16, 9), 120)
    with ctx.uow() as uow:
        service_records.reverse_record(uow.session, approver, records["v3"][0], "重复录入", TODAY)
        uow.commit()
    again = run(ctx, definition["id"], position=position)
    assert again["id"] == first["id"] and again["entries_hash"] == first["entries_hash"]
    with ctx.uow() as uow:
        check = rankings.reproduce(uow.session, SYSTEM, first["id"])
    assert check["matches"], check
    rows = by_subject(entries(ctx, first["id"]))
    assert rows[v["v3"]]["minutes"] == 300 and rows[v["v2"]]["minutes"] == 240
    # a run at the current position sees both: v2 360 min first; v3's reversed record nets 0
    newer = run(ctx, definition["id"])
    assert newer["id"] != first["id"] and newer["ledger_position"] > position
    rows = by_subject(entries(ctx, newer["id"]))
    assert rows[v["v2"]]["rank"] == 1 and rows[v["v2"]]["minutes"] == 360
    assert rows[v["v3"]]["minutes"] == 0 and rows[v["v3"]]["tx_count"] == 2 and rows[v["v3"]]["rank"] is None


def test_no_reversed_record_rule_and_trace(ctx):
    units, v, records, approver = build(ctx)
    with ctx.uow() as uow:
        service_records.reverse_record(uow.session, approver, records["v1"][2], "录入错误", TODAY)
        uow.commit()
    definition = define(ctx, units, eligibility={"min_hours": 2, "no_reversed_records": True})
    result = run(ctx, definition["id"])
    rows = by_subject(entries(ctx, result["id"]))
    # v1 now 180 min (240 − 60), three transactions plus the reversal; refused by the rule
    assert rows[v["v1"]]["minutes"] == 180 and rows[v["v1"]]["tx_count"] == 4
    assert rows[v["v1"]]["reasons"] == ["有被冲正的记录"] and not rows[v["v1"]]["is_eligible"]
    with ctx.uow() as uow:
        trail = rankings.transactions_of_entry(uow.session, SYSTEM, result["id"], v["v1"])
    assert [t["minutes"] for t in trail] == [120, 60, 60, -60]
    assert sum(t["points"] for t in trail) == rows[v["v1"]]["points"] == 30


def test_team_ranking_by_activity_team(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    from ledger.people import org
    with ctx.uow() as uow:
        t1 = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "文艺小队", units["station_a"], "文化文艺"))
        t2 = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "环保小队", units["station_b"], "卫生环保"))
        uow.commit()
    volunteer = person(ctx, units["station_a"])
    other = person(ctx, units["station_b"])
    a1 = f.activity(ctx, units["station_a"], dt.date(2025, 4, 14), team_id=t1["id"])
    a2 = f.activity(ctx, units["station_b"], dt.date(2025, 4, 15), team_id=t2["id"])
    a3 = f.activity(ctx, units["station_b"], dt.date(2025, 4, 16), team_id=t2["id"])
    f.served(ctx, recorder, approver, volunteer, a1, dt.datetime(2025, 4, 14, 9), 240)  # t1: 240 min, 1 activity
    f.served(ctx, recorder, approver, other, a2, dt.datetime(2025, 4, 15, 9), 60)  # t2: 60 + 90 = 150 min
    f.served(ctx, recorder, approver, volunteer, a3, dt.datetime(2025, 4, 16, 9), 90)  # t2: 2 activities
    definition = define(ctx, units, subject="team", metrics=["activities", "hours"], tie_break=[],
                        eligibility={}, quota={"top_n": 1})
    rows = by_subject(entries(ctx, run(ctx, definition["id"])["id"]))
    assert (rows[t2["id"]]["rank"], rows[t2["id"]]["minutes"], rows[t2["id"]]["activities"]) == (1, 150, 2)
    assert (rows[t1["id"]]["rank"], rows[t1["id"]]["minutes"]) == (2, 240)
    assert rows[t2["id"]]["subject_name"] == "环保小队"


def test_publish_supersede_and_the_official_list(ctx):
    units, v, _, approver = build(ctx)
    definition = define(ctx, units)
    first = run(ctx, definition["id"])
    with ctx.uow() as uow:
        published = rankings.publish_run(uow.session, SYSTEM, first["id"])
        uow.commit()
    assert published["is_published"]
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])  # v4 is of station B: an admin over both records
    late = f.activity(ctx, units["station_a"], dt.date(2025, 12, 17))
    f.served(ctx, recorder, approver, v["v4"], late, dt.datetime(2025, 12, 17, 9), 60)
    second = run(ctx, definition["id"])
    with ctx.uow() as uow:
        with pytest.raises(Conflict) as caught:  # the first is still the official list
            rankings.publish_run(uow.session, SYSTEM, second["id"])
        assert caught.value.field == "run_id"
        with pytest.raises(ValidationFailed) as caught:
            rankings.supersede_run(uow.session, SYSTEM, first["id"], second["id"], "  ")
        assert caught.value.field == "reason"
        rankings.supersede_run(uow.session, SYSTEM, first["id"], second["id"], "补录12月台账")
        rankings.publish_run(uow.session, SYSTEM, second["id"])
        uow.commit()
    with ctx.uow() as uow:
        with pytest.raises(Conflict) as caught:
            rankings.publish_run(uow.session, SYSTEM, first["id"])
        assert caught.value.field == "run_id" and "superseded" in caught.value.message
        assert rankings.official_run(uow.session, definition["code"], "2025").id == second["id"]
        status = rankings.run_status(uow.session, first["id"])
    assert status["superseded_by"] == second["id"] and status["supersede_reason"] == "补录12月台账"


def test_a_changed_definition_is_a_new_version_and_an_unchanged_one_is_not(ctx):
    units = f.tree(ctx)
    first = define(ctx, units)
    doc = {**first["document"], "eligibility": {"min_hours": 2}}
    with ctx.uow() as uow:
        same = rankings.define_ranking(uow.session, SYSTEM, doc)
        changed = rankings.define_ranking(uow.session, SYSTEM, {**doc, "quota": {"top_n": 3}})
        uow.commit()
    assert same["id"] == first["id"] and changed["version"] == 2 and changed["code"] == first["code"]


@pytest.mark.parametrize("change, field", [
    ({"metrics": ["hours", "smiles"]}, "metrics[1]"),
    ({"metrics": []}, "metrics"),
    ({"quota": {"top_n": -1}}, "quota.top_n"),
    ({"quota": {"top_share": "120%"}}, "quota.top_share"),
    ({"quota": {"top_n": 3, "top_share": "0.1"}}, "quota"),
    ({"quota": {"top_n": 3, "per": "province"}}, "quota.per"),
    ({"eligibility": {"min_hours": -5}}, "eligibility.min_hours"),
    ({"eligibility": {"min_star": 1}}, "eligibility.min_star"),
    ({"eligibility": {"min_star_level": 6}}, "eligibility.min_star_level"),
    ({"tie_break": ["coin_toss"]}, "tie_break[0]"),
    ({"period_kind": "week"}, "period_kind"),
    ({"subject": "station"}, "subject"),
    ({"colour": "red"}, "colour"),
])
def test_bad_definitions_are_refused_with_the_field_and_nothing_is_stored(ctx, change, field):
    units = f.tree(ctx)
    doc = {"code": f.ref("bad"), "name": "坏定义", "unit_id": units["center"], "period_kind": "year",
           "metrics": ["hours"], **change}
    with ctx.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            rankings.define_ranking(uow.session, SYSTEM, doc)
        uow.commit()
    assert caught.value.field == field
    with ctx.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(RankingDefinition)
                                   .where(RankingDefinition.code == doc["code"])).scalar_one() == 0


def test_a_period_not_yet_ended_or_malformed_is_refused_and_no_run_is_stored(ctx):
    units = f.tree(ctx)
    definition = define(ctx, units)
    for period in ("2026", "2027", "2025-Q1", "twenty"):
        with ctx.uow() as uow:
            with pytest.raises(ValidationFailed) as caught:
                rankings.run_ranking(uow.session, SYSTEM, definition["id"], period, TODAY)
        assert caught.value.field == "period", period
    with ctx.uow() as uow:
        with pytest.raises(ValidationFailed) as caught:
            rankings.run_ranking(uow.session, SYSTEM, definition["id"], "2025", TODAY, position=-1)
        assert caught.value.field == "position"
        with pytest.raises(NotFound):
            rankings.run_ranking(uow.session, SYSTEM, 10**9, "2025", TODAY)
        assert uow.session.execute(select(func.count()).select_from(RankingRun)
                                   .where(RankingRun.definition_id == definition["id"])).scalar_one() == 0


def test_periods():
    assert rankings.period_bounds("quarter", "2026-Q3") == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert rankings.period_bounds("month", "2026-12") == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert rankings.period_bounds("month", "2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert rankings.previous_period("quarter", dt.date(2026, 1, 1)) == "2025-Q4"
    assert rankings.previous_period("quarter", dt.date(2026, 11, 23)) == "2026-Q3"
    assert rankings.previous_period("month", dt.date(2026, 1, 1)) == "2025-12"
    assert rankings.previous_period("year", dt.date(2026, 1, 1)) == "2025"


def test_star_level_is_read_as_of_the_run_position(ctx):
    """12 × 480 min = 96 h: no star yet.  A late-recorded 2025 service (480 min) makes 104 h and
    one star dated 2025-12-20; a run at the earlier position still sees no star."""
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    volunteer = person(ctx, units["station_a"])
    for month in range(1, 13):
        day = dt.date(2025, month, 10)
        f.served(ctx, recorder, approver, volunteer, f.activity(ctx, units["station_a"], day),
                 dt.datetime.combine(day, dt.time(8)), 480)
    definition = define(ctx, units, eligibility={"min_star_level": 1})
    before = run(ctx, definition["id"])
    assert (before["candidates"], before["eligible"]) == (1, 0)
    late = dt.date(2025, 12, 20)
    f.served(ctx, recorder, approver, volunteer, f.activity(ctx, units["station_a"], late),
             dt.datetime.combine(late, dt.time(8)), 480)
    after = run(ctx, definition["id"])
    assert (after["eligible"], by_subject(entries(ctx, after["id"]))[volunteer]["star_level"]) == (1, 1)
    with ctx.uow() as uow:
        assert rankings.reproduce(uow.session, SYSTEM, before["id"])["matches"]
    row = by_subject(entries(ctx, before["id"]))[volunteer]
    assert (row["star_level"], row["minutes"], row["reasons"]) == (0, 5760, ["星级不足"])


def test_team_ranking_by_membership(ctx):
    """Teams by their members' service (memberships.team_id), wherever the activity was:
    T1 has members m1 (120 min) and m2 (60 min) = 180 min; T2 has m3 (90 min)."""
    from ledger.people import org, volunteers

    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    with ctx.uow() as uow:
        t1 = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "宣讲小队", units["station_a"], "理论政策宣讲"))
        t2 = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "义诊小队", units["station_b"], "医疗健身"))
        uow.commit()
    members = []
    for team in (t1, t1, t2):
        with ctx.uow() as uow:
            birth = f"19{secrets.randbelow(80) + 10:02d}0{secrets.randbelow(9) + 1}1{secrets.randbelow(9)}"
            created = volunteers.register_volunteer(uow.session, SYSTEM, ctx.secret_key, volunteers.RegisterVolunteer(
                name="队员", home_unit_id=team["unit_id"], id_number=f.random_id_number(birth),
                registered_on=dt.date(2024, 1, 1), team_ids=(team["id"],)), TODAY)
            uow.commit()
            members.append(created.id)
    activity = f.activity(ctx, units["station_a"], dt.date(2025, 8, 12))  # no team on the activity
    for volunteer_id, minutes in zip(members, (120, 60, 90)):
        f.served(ctx, recorder, approver, volunteer_id, activity, dt.datetime(2025, 8, 12, 9), minutes)
    definition = define(ctx, units, subject="team", team_attribution="membership", metrics=["hours"],
                        tie_break=[], eligibility={}, quota={"top_n": 1})
    rows = by_subject(entries(ctx, run(ctx, definition["id"])["id"]))
    assert (rows[t1["id"]]["rank"], rows[t1["id"]]["minutes"], rows[t1["id"]]["tx_count"]) == (1, 180, 2)
    assert (rows[t2["id"]]["rank"], rows[t2["id"]]["minutes"], rows[t2["id"]]["is_shortlisted"]) == (2, 90, False)


def test_snapshot_hash_is_the_same_whoever_renders_it_for_names_that_need_escaping(ctx):
    """On PostgreSQL the stored hash is rendered in SQL (json_build_array), `reproduce` renders
    the recomputed rows with json.dumps: names with quotes, backslashes, control characters and
    characters outside the BMP must give the same bytes (on SQLite both are Python)."""
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    names = ['"引号"', "反\\斜杠", "换\n行\t制表", "控制\x01\x1f字符", "表情😀", "<b>&amp;</b>", "é\u2028x"]
    activity = f.activity(ctx, units["station_a"], dt.date(2025, 5, 12))
    for minutes, name in enumerate(names, start=1):
        volunteer = person(ctx, units["station_a"], name=f"志愿者{minutes}")
        with ctx.uow() as uow:  # names stored before names were checked on entry (`ledger.names`)
            uow.session.execute(update(Volunteer).where(Volunteer.id == volunteer).values(name=name))
            uow.commit()
        f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(2025, 5, 12, 8), 60 + minutes)
    result = run(ctx, define(ctx, units, eligibility={}, quota={"top_n": 3})["id"])
    assert result["candidates"] == len(names)
    with ctx.uow() as uow:
        assert rankings.entries_hash(uow.session, result["id"]) == result["entries_hash"]
        assert rankings.reproduce(uow.session, SYSTEM, result["id"])["matches"]
    assert sorted(row["subject_name"] for row in entries(ctx, result["id"])) == sorted(names)
