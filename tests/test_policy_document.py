"""The incentive policy (嘉许激励办法) as a document: parsing, refusals, pricing, expiry.

Pure tests, no database.  Every figure in an assertion was worked out by hand first; the
arithmetic is in the comment above it.
"""
from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from ledger.errors import PolicyInvalid, ValidationFailed
from ledger.incentives.policy import (
    PointLot,
    Policy,
    ServiceFacts,
    expiring_points,
    load_default_policy,
    open_lots,
    point_lots,
    spendable_points,
)

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "ledger" / "incentives" / "default_policy.toml"

# A small policy of our own, so that the worked examples do not move when the default does.
TEST_POLICY = """
[policy]
name = "测试办法"

[points]
per_hour = 10
rounding = "half_up"
funding = "unit"

[multipliers]
stack = "multiply"
[multipliers.tag]
"应急" = 1.5
"志愿服务日" = 1.2
"春节" = 2
"元宵" = 1.3
[multipliers.rating]
5 = 1.2
1 = 0.8
[multipliers.category]
"卫生环保" = 1.0
"医疗健身" = 1.1

[service]
no_hours_kinds = ["工作时间履职"]
no_points_kinds = ["培训学习"]

[caps]
per_activity_minutes = 480
per_day_minutes = 600
per_year_minutes = 6000

[expiry]
rule = "end_of_following_year"

[stars]
[[stars.levels]]
hours = 100
[[stars.levels]]
hours = 300
[[stars.levels]]
hours = 600

[[date_tags]]
name = "志愿服务日"
monthly_day = 5

[[date_tags]]
name = "春节"
from = 2026-02-16
to = 2026-02-22
precedence = 1

[[date_tags]]
name = "元宵"
from = 2026-02-22
to = 2026-03-03
precedence = 2
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.parse(TEST_POLICY)


def variant(**sections) -> Policy:
    """The test policy with some sections' keys replaced (a value of None deletes the key)."""
    data = copy.deepcopy(Policy.parse(TEST_POLICY).to_dict())
    for section, changes in sections.items():
        for key, value in changes.items():
            data[section].pop(key, None) if value is None else data[section].__setitem__(key, value)
    return Policy.from_dict(data)


def facts(**overrides) -> ServiceFacts:
    base = dict(minutes=60, service_date=date(2026, 3, 6), category="卫生环保")
    return ServiceFacts(**{**base, **overrides})


# ---------------------------------------------------------------- the documents themselves


def test_default_policy_parses_with_the_national_star_scheme():
    policy = Policy.parse(DEFAULT_POLICY.read_text(encoding="utf-8"))
    assert [rule.minutes // 60 for rule in policy.star_levels] == [100, 300, 600, 1000, 1500]
    assert policy.star_levels[4].requires_review is True
    assert policy.points_per_hour == Decimal(10)
    assert (policy.rounding, policy.stack, policy.funding) == ("half_up", "multiply", "county")
    assert policy.expiry_rule == "end_of_following_year"
    assert "工作时间履职" in policy.no_hours_kinds
    assert policy.tag_multipliers["应急"] == Decimal("1.5")
    assert load_default_policy() == policy


def test_canonical_json_round_trips_and_hash_ignores_formatting(policy):
    again = Policy.from_dict(json.loads(policy.to_canonical_json()))
    assert again == policy and again.content_hash() == policy.content_hash()
    reformatted = TEST_POLICY.replace('"应急" = 1.5', '"应急" = 1.50').replace("per_hour = 10", 'per_hour = "10.0"')
    assert Policy.parse(reformatted).content_hash() == policy.content_hash()
    changed = TEST_POLICY.replace('"应急" = 1.5', '"应急" = 1.6')
    assert Policy.parse(changed).content_hash() != policy.content_hash()
    assert len(policy.content_hash()) == 64


MINIMAL = {"policy": {"name": "x"}, "points": {"per_hour": 10}, "stars": {"levels": [{"hours": 100}]}}


def broken(change) -> dict:
    data = copy.deepcopy(MINIMAL)
    change(data)
    return data


REFUSALS = [
    # (document or change to MINIMAL, exact path, exact reason)
    ("[points\nper_hour = 10", "document",
     "malformed TOML: Expected ']' at the end of a table declaration (at line 1, column 8)"),
    (lambda d: d["points"].update(per_hourr=10), "points.per_hourr", "unknown key"),
    (lambda d: d.update(bonus={}), "bonus", "unknown key"),
    (lambda d: d.pop("points"), "points", "required key is missing"),
    (lambda d: d["points"].pop("per_hour"), "points.per_hour", "required key is missing"),
    (lambda d: d["points"].update(per_hour="ten"), "points.per_hour", "must be a finite decimal number"),
    (lambda d: d["points"].update(per_hour=10.5), "points.per_hour",
     "must be an exact decimal number (int, Decimal or string), not float"),
    (lambda d: d["points"].update(per_hour=-1), "points.per_hour", "must not be negative"),
    (lambda d: d["points"].update(rounding="bankers"), "points.rounding",
     "unknown value 'bankers'; expected one of half_up, half_even, down, floor, up, ceil"),
    (lambda d: d["points"].update(rounding=5), "points.rounding", "must be a string"),
    (lambda d: d["points"].update(funding="province"), "points.funding",
     "unknown value 'province'; expected one of county, unit, none"),
    (lambda d: d.update(multipliers={"tag": {"应急": Decimal("-1.5")}}), "multipliers.tag.应急",
     "must not be negative"),
    (lambda d: d.update(multipliers={"category": {"未知类别": 1}}), "multipliers.category.未知类别",
     "unknown service category (not in service.categories)"),
    (lambda d: d.update(multipliers={"rating": {"6": 1}}), "multipliers.rating.6",
     "unknown rating; expected 1 to 5"),
    (lambda d: d.update(multipliers={"stack": "sum"}), "multipliers.stack",
     "unknown value 'sum'; expected one of multiply, max"),
    (lambda d: d.update(service={"categories": ["文化文艺", "文化文艺"]}), "service.categories[1]",
     "duplicate '文化文艺'"),
    (lambda d: d.update(caps={"per_day_minutes": -60}), "caps.per_day_minutes", "must be at least 1"),
    (lambda d: d.update(caps={"per_day_minutes": True}), "caps.per_day_minutes", "must be an integer"),
    (lambda d: d.update(caps={"per_day_minutes": 1500}), "caps.per_day_minutes",
     "a day has only 1440 minutes"),
    (lambda d: d.update(expiry={"rule": "none", "months": 24}), "expiry.months",
     'only allowed when rule = "months"'),
    (lambda d: d.update(expiry={"rule": "months"}), "expiry.months", "required key is missing"),
    (lambda d: d.update(complaints={"upheld": "halve"}), "complaints.upheld",
     "unknown value 'halve'; expected one of zero_points, zero_hours_and_points, zero_activity_points, deduct, "
     "ignore"),
    (lambda d: d["stars"].update(levels=[{"hours": 100}, {"hours": 300}, {"hours": 300}]),
     "stars.levels[2].hours", "must be greater than stars.levels[1].hours (300)"),
    (lambda d: d["stars"].update(levels=[{"hours": 100}, {"hours": 300, "requires_revew": True}]),
     "stars.levels[1].requires_revew", "unknown key"),
    (lambda d: d["stars"].update(levels=[{"hours": h} for h in range(1, 7)]), "stars.levels",
     "must be a list of 1 to 5 levels"),
    (lambda d: d["stars"].update(basis="points"), "stars.basis",
     "unknown value 'points'; expected one of cumulative_hours, year_hours"),
    (lambda d: d.update(date_tags=[{"name": "春节", "from": date(2026, 2, 16), "to": date(2026, 2, 22)},
                                   {"name": "元宵", "from": date(2026, 2, 22), "to": date(2026, 3, 3)}]),
     "date_tags[1].precedence",
     "元宵 overlaps date_tags[0] (春节); both need a precedence and the two must differ"),
    (lambda d: d.update(date_tags=[{"name": "春节", "from": date(2026, 2, 22), "to": date(2026, 2, 16)}]),
     "date_tags[0].to", "must not be before from (2026-02-22)"),
    (lambda d: d.update(date_tags=[{"name": "志愿服务日", "monthly_day": 5, "from": date(2026, 1, 5)}]),
     "date_tags[0]", "give either from/to or monthly_day, not both"),
    (lambda d: d.update(date_tags=[{"name": "志愿服务日", "monthly_day": 32}]), "date_tags[0].monthly_day",
     "must be a day of the month, 1 to 31"),
]


@pytest.mark.parametrize("source, path, reason", REFUSALS, ids=[case[1] for case in REFUSALS])
def test_malformed_policy_is_refused_with_exact_path_and_reason(source, path, reason):
    with pytest.raises(PolicyInvalid) as refused:
        Policy.parse(source) if isinstance(source, str) else Policy.from_dict(broken(source))
    assert (refused.value.path, refused.value.reason) == (path, reason)
    assert refused.value.field == path


def test_a_toml_datetime_is_not_a_date():
    text = TEST_POLICY.replace("from = 2026-02-16", "from = 2026-02-16T08:00:00")
    with pytest.raises(PolicyInvalid) as refused:
        Policy.parse(text)
    assert (refused.value.path, refused.value.reason) == ("date_tags[1].from",
                                                          "must be a date YYYY-MM-DD without a time")


# ---------------------------------------------------------------- pricing: worked examples


def test_emergency_service_rated_five_on_volunteer_day_hits_the_daily_cap(policy):
    # 3.5 h = 210 min of 应急 service, rated 5, on 2026-03-05 (day 5: 志愿服务日), category 卫生环保;
    # 420 min were already credited that day and 1000 min that year.
    # caps: per activity 480 -> 210; per day 600 - 420 = 180 left -> 180; per year 6000 - 1000 -> 180.
    # multiplier (stack = multiply): 应急 1.5 x 志愿服务日 1.2 x rating-5 1.2 x 卫生环保 1.0 = 2.16
    # points: 180 min / 60 = 3 h x 10 = 30 x 2.16 = 64.8 -> half_up -> 65
    pricing = policy.price(facts(minutes=210, service_date=date(2026, 3, 5), tags=frozenset({"应急"}),
                                 rating=5, credited_minutes_same_day=420, credited_minutes_same_year=1000))
    assert pricing.credited_minutes == 180
    assert pricing.multiplier == Decimal("2.16")
    assert pricing.points == 65
    assert pricing.breakdown["day_remaining"] == 180
    assert pricing.breakdown["exact_points"] == "64.8"
    assert json.loads(json.dumps(pricing.breakdown, ensure_ascii=False)) == pricing.breakdown


def test_same_service_under_max_stacking_takes_only_the_largest_factor():
    # as above but stack = "max": max(1.5, 1.2, 1.2, 1.0) = 1.5; 3 h x 10 x 1.5 = 45
    pricing = variant(multipliers={"stack": "max"}).price(
        facts(minutes=210, service_date=date(2026, 3, 5), tags=frozenset({"应急"}), rating=5,
              credited_minutes_same_day=420))
    assert (pricing.credited_minutes, pricing.multiplier, pricing.points) == (180, Decimal("1.5"), 45)


def test_overlapping_holidays_apply_only_the_higher_precedence(policy):
    # 2026-02-22 is in 春节 (precedence 1) and 元宵 (precedence 2): only 元宵 1.3 applies.
    # 90 min 医疗健身, no rating: 1.3 x 1.1 = 1.43; 1.5 h x 10 x 1.43 = 21.45 -> half_up -> 21
    assert policy.date_tags_on(date(2026, 2, 22)) == {"元宵"}
    assert policy.date_tags_on(date(2026, 2, 21)) == {"春节"}
    pricing = policy.price(facts(minutes=90, service_date=date(2026, 2, 22), category="医疗健身"))
    assert (pricing.multiplier, pricing.points) == (Decimal("1.43"), 21)


def test_date_tags_are_derived_from_the_date_never_claimed(policy):
    # 春节 set by hand on a plain day (2026-03-06) is ignored: 60 min x 10/h x 1.0 = 10
    assert policy.price(facts(tags=frozenset({"春节"}))).points == 10
    # an explicit tag without a multiplier counts as 1 and is shown as not applied
    pricing = policy.price(facts(tags=frozenset({"敬老"})))
    assert pricing.points == 10
    assert pricing.breakdown["factors"][0] == {"source": "tag", "name": "敬老", "multiplier": "1",
                                                "applies": False}


def test_yearly_and_per_activity_caps(policy):
    # 600 min in one activity: per activity cap 480; year already 5950 of 6000 -> 50 left -> 50
    # points: 50 / 60 x 10 = 8.333... -> half_up -> 8
    pricing = policy.price(facts(minutes=600, credited_minutes_same_year=5950))
    assert (pricing.credited_minutes, pricing.points) == (50, 8)
    # nothing left of the day: 0 minutes, 0 points
    assert policy.price(facts(credited_minutes_same_day=600)).credited_minutes == 0


def test_kinds_and_upheld_complaints(policy):
    # 工作时间履职 earns no hours, hence no points; 培训学习 earns hours but no points.
    on_duty = policy.price(facts(service_kind="工作时间履职"))
    assert (on_duty.credited_minutes, on_duty.points, on_duty.breakdown["zeroed_by"]) == (0, 0, "no_hours_kind")
    training = policy.price(facts(service_kind="培训学习"))
    assert (training.credited_minutes, training.points) == (60, 0)
    # an upheld complaint: the hour still counts, the 10 points do not
    complained = policy.price(facts(complaint_upheld=True, rating=5))
    assert (complained.credited_minutes, complained.points) == (60, 0)
    strict = variant(complaints={"upheld": "zero_hours_and_points"})
    assert strict.price(facts(complaint_upheld=True)).credited_minutes == 0
    lenient = variant(complaints={"upheld": "ignore"})
    assert lenient.price(facts(complaint_upheld=True)).points == 10


def test_rating_that_arrives_after_posting(policy):
    # 60 min 卫生环保 on a plain day: 10 points without a rating.
    # rated 5: 10 x 1.2 = 12 -> bonus +2; rated 1: 10 x 0.8 = 8 -> bonus -2;
    # rated 3: not in this policy's table -> factor 1 -> bonus 0
    assert policy.rating_bonus(facts(), 5) == 2
    assert policy.rating_bonus(facts(), 1) == -2
    assert policy.rating_bonus(facts(), 3) == 0
    assert policy.rating_bonus(facts(complaint_upheld=True), 5) == 0


def test_facts_outside_the_policy_are_refused(policy):
    with pytest.raises(ValidationFailed) as refused:
        policy.price(facts(category="未知类别"))
    assert refused.value.field == "category"
    with pytest.raises(ValidationFailed) as refused:
        policy.price(facts(minutes=-1))
    assert refused.value.field == "minutes"
    with pytest.raises(ValidationFailed) as refused:
        policy.price(facts(rating=6))
    assert refused.value.field == "rating"


# 15 min x 10/h = 2.5 (an exact half); 45 min = 7.5; 35 min = 5.8333...
@pytest.mark.parametrize("rule, expected", [
    ("half_up", (3, 8, 6)),
    ("half_even", (2, 8, 6)),
    ("down", (2, 7, 5)),
    ("floor", (2, 7, 5)),
    ("up", (3, 8, 6)),
    ("ceil", (3, 8, 6)),
])
def test_rounding_rules(rule, expected):
    rounded = variant(points={"rounding": rule})
    assert tuple(rounded.price(facts(minutes=minutes)).points for minutes in (15, 45, 35)) == expected


# ---------------------------------------------------------------- expiry


def test_expiry_dates(policy):
    assert policy.expiry_date(date(2024, 7, 1)) == date(2025, 12, 31)
    assert policy.expiry_date(date(2024, 12, 31)) == date(2025, 12, 31)
    # months = 24: earned 2025-03-15 -> 2027-03-15 -> valid to the end of that month
    assert variant(expiry={"rule": "months", "months": 24}).expiry_date(date(2025, 3, 15)) == date(2027, 3, 31)
    assert variant(expiry={"rule": "none"}).expiry_date(date(2025, 3, 15)) is None


def test_partly_spent_points_expire_oldest_first_across_two_years(policy):
    # earned 2024: 70 + 50 = 120 (valid to 2025-12-31); earned 2025: 80 (valid to 2026-12-31)
    earned = [(date(2024, 3, 5), 70), (date(2024, 9, 5), 50), (date(2025, 6, 1), 80)]
    lots = point_lots((policy.expiry_date(day), points) for day, points in earned)
    assert lots == [PointLot(date(2025, 12, 31), 120), PointLot(date(2026, 12, 31), 80)]
    # 50 redeemed during 2025 come out of the 2024 lot: 120 - 50 = 70 of it is left.
    assert expiring_points(lots, 50, date(2025, 12, 31)) == 0  # still spendable on its last day
    # on 2026-01-01: 120 - 50 = 70 expire; spendable = 200 - 50 - 70 = 80
    assert expiring_points(lots, 50, date(2026, 1, 1)) == 70
    assert spendable_points(lots, 50, date(2026, 1, 1)) == 80
    # once the 70 are posted as an expiry debit (debits 120), running again expires nothing
    assert expiring_points(lots, 120, date(2026, 1, 1)) == 0
    # 30 redeemed during 2026 (debits 150) leave 80 - 30 = 50 of the 2025 lot
    assert open_lots(lots, 150) == [PointLot(date(2026, 12, 31), 50)]
    assert expiring_points(lots, 150, date(2027, 1, 1)) == 50
    assert spendable_points(lots, 200, date(2027, 1, 1)) == 0


def test_spending_past_the_old_lot_protects_the_new_one(policy):
    # 100 (to 2025-12-31) + 100 (to 2026-12-31); 150 spent before 2026: the old lot is gone
    # and 50 of the new one, so nothing expires on 2026-01-01 and 50 on 2027-01-01.
    lots = [PointLot(date(2026, 12, 31), 100), PointLot(None, 5), PointLot(date(2025, 12, 31), 100)]
    assert expiring_points(lots, 150, date(2026, 1, 1)) == 0
    assert expiring_points(lots, 150, date(2027, 1, 1)) == 50
    assert open_lots(lots, 150) == [PointLot(date(2026, 12, 31), 50), PointLot(None, 5)]


# ---------------------------------------------------------------- properties

service_facts = st.builds(
    ServiceFacts,
    minutes=st.integers(0, 2000),
    service_date=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    category=st.sampled_from(["卫生环保", "医疗健身", "文化文艺"]),
    tags=st.frozensets(st.sampled_from(["应急", "敬老", "春节"])),
    rating=st.none() | st.integers(1, 5),
    complaint_upheld=st.booleans(),
    service_kind=st.sampled_from([None, "工作时间履职", "培训学习"]),
    credited_minutes_same_day=st.integers(0, 1000),
    credited_minutes_same_year=st.integers(0, 7000),
)


@given(service_facts, st.integers(0, 600), st.sampled_from(["half_up", "half_even", "down", "up"]))
def test_price_is_never_negative_and_monotone_in_minutes(facts_, extra, rule):
    policy = Policy.parse(TEST_POLICY.replace('rounding = "half_up"', f'rounding = "{rule}"'))
    less = policy.price(facts_)
    more = policy.price(ServiceFacts(**{**vars(facts_), "minutes": facts_.minutes + extra}))
    assert 0 <= less.credited_minutes <= min(facts_.minutes, 480)
    assert facts_.credited_minutes_same_day + less.credited_minutes <= max(600, facts_.credited_minutes_same_day)
    assert 0 <= less.points <= more.points
    assert less.credited_minutes <= more.credited_minutes
