"""The pure incentive rules at the bottom of `ledger/incentives/`, without a database.

Each worked example is computed by hand in its docstring; the same functions are called by
the single path (`pricing`), the batch path (`service.bulk`) and repricing (what-if, adjustments).
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from ledger.incentives.caps import RunningCredit, capped_minutes, capped_points, may_bind
from ledger.incentives.document import Caps
from ledger.incentives.funding import funding_unit, home_unit_on, version_in_force, version_label
from ledger.incentives.policy import Policy, load_default_policy
from ledger.incentives.stars import (
    StarChange,
    StarHistory,
    history_months,
    minutes_to_next_star,
    missing_for_next_star,
    needs_history,
    star_change,
    star_level,
)

DEFAULT_CAPS = Caps(per_activity_minutes=480, per_day_minutes=600, per_year_minutes=60000)


def test_caps_take_the_smallest_remainder():
    """Default caps (480 an activity, 600 a day, 60,000 a year).

    - 540 min served, nothing before: min(540, 480) = 480.
    - 300 min served, 420 already that day: 600 - 420 = 180 left -> 180.
    - 300 min served, 59,900 already that year: 100 left -> 100.
    - 300 min served, 600 already that day: 0 left -> 0.
    - 300 min served, 400 already in the same activity (another record): 80 left -> 80.
    """
    assert capped_minutes(DEFAULT_CAPS, 540, {}) == 480
    assert capped_minutes(DEFAULT_CAPS, 300, {"day": 420, "year": 1000}) == 180
    assert capped_minutes(DEFAULT_CAPS, 300, {"year": 59900}) == 100
    assert capped_minutes(DEFAULT_CAPS, 300, {"day": 600, "year": 600}) == 0
    assert capped_minutes(DEFAULT_CAPS, 300, {"activity": 400, "day": 400}) == 80
    assert capped_minutes(Caps(), 5000, {"day": 10**6, "year": 10**7}) == 5000


def test_points_caps_leave_the_hours_alone():
    """积分封顶: 20 points a day, 50 a week, hours uncapped.

    A record worth 30 points with 0 before that day: 20.  Worth 15 with 12 that day: 8 left -> 8.
    Worth 15 with 5 that day and 45 that week: the week has 5 left -> 5.  Minutes are not cut.
    """
    caps = Caps(per_day_points=20, per_week_points=50)
    assert capped_points(caps, 30, {"day": 0, "week": 0}) == 20
    assert capped_points(caps, 15, {"day": 12, "week": 12}) == 8
    assert capped_points(caps, 15, {"day": 5, "week": 45}) == 5
    assert capped_minutes(caps, 900, {"day": 900, "week": 5000}) == 900


def test_may_bind_is_false_only_when_every_minute_is_credited():
    """480 + 100 = 580 <= 600 cannot bind; 480 + 121 = 601 > 600 can; any points cap can."""
    assert not may_bind(DEFAULT_CAPS, 100, {"day": 480, "year": 480})
    assert may_bind(DEFAULT_CAPS, 121, {"day": 480, "year": 480})
    assert not may_bind(Caps(), 10**6, {"day": 10**6})
    assert may_bind(Caps(per_month_points=100), 1, {})


def test_running_credit_counts_sums_per_scope():
    """Three records of one volunteer in activity 11 on 3 March (300, 240, 200 min), then one in
    activity 12 on 4 March (200 min); caps 480 an activity, 600 a day, 720 a week.

    3 March: 300 (0 before) -> 300; 240 (300 in the activity) -> 180; 200 (activity full) -> 0.
    4 March, activity 12: day 0, activity 0, week 480 of 720 -> 200.  The week holds 680.
    """
    caps = Caps(per_activity_minutes=480, per_day_minutes=600, per_week_minutes=720)
    credit = RunningCredit(("activity", "day", "week"))
    credited = []
    for activity_id, day, minutes in ((11, dt.date(2026, 3, 3), 300), (11, dt.date(2026, 3, 3), 240),
                                      (11, dt.date(2026, 3, 3), 200), (12, dt.date(2026, 3, 4), 200)):
        capped = capped_minutes(caps, minutes, credit.before(7, activity_id, day)[0])
        credit.add(7, activity_id, day, capped, capped // 6)
        credited.append(capped)
    assert credited == [300, 180, 0, 200]
    assert credit.before(7, 12, dt.date(2026, 3, 8)) == ({"activity": 200, "day": 0, "week": 680},
                                                        {"activity": 33, "day": 0, "week": 113})
    assert credit.before(8, 11, dt.date(2026, 3, 3))[0] == {"activity": 0, "day": 0, "week": 0}


def test_funding_unit():
    """"unit" funds from the volunteer's home unit (12); "county" and "none" from the county (1)."""
    policy = load_default_policy()
    assert funding_unit(policy, 12, 1) == 1
    by_unit = SimpleNamespace(funding="unit")
    assert funding_unit(by_unit, 12, 1) == 12


def test_home_unit_on_a_date():
    """Home at unit 5 from 2025-01-01 to 2026-03-01 (exclusive), then unit 9.

    On 2026-02-28 the home is 5; on 2026-03-01 it is 9; with no membership, the current home.
    """
    periods = [(dt.date(2025, 1, 1), dt.date(2026, 3, 1), 5), (dt.date(2026, 3, 1), None, 9)]
    assert home_unit_on(periods, dt.date(2026, 2, 28), 9) == 5
    assert home_unit_on(periods, dt.date(2026, 3, 1), 9) == 9
    assert home_unit_on([], dt.date(2026, 3, 1), 9) == 9


def test_version_in_force_nearest_unit_then_newest():
    """Chain 30 (站) -> 20 (所) -> 1 (中心).  Versions: center v1 from 2026-01-01, center v2 from
    2026-06-01, township v1 from 2026-03-01.

    On 2026-02-01 only the center's v1 is effective -> center v1.  On 2026-07-01 the township
    is nearer than the center -> township v1, although the center's v2 is newer.  Before any
    -> None (the built-in default).
    """
    v = SimpleNamespace
    versions = [v(unit_id=1, effective_from=dt.date(2026, 1, 1), version=1, id=10),
                v(unit_id=1, effective_from=dt.date(2026, 6, 1), version=2, id=11),
                v(unit_id=20, effective_from=dt.date(2026, 3, 1), version=1, id=12)]
    chain = [30, 20, 1]
    assert version_in_force(chain, versions, dt.date(2026, 2, 1)).id == 10
    assert version_in_force(chain, versions, dt.date(2026, 7, 1)).id == 12
    assert version_in_force([1], versions, dt.date(2026, 7, 1)).id == 11
    assert version_in_force(chain, versions, dt.date(2025, 12, 31)) is None
    assert version_label(versions[2]) == "单位20 第1版" and version_label(None) == "默认"


def test_star_change_up_and_down():
    """Default scheme: 1 star at 100 h (6,000 min), 2 stars at 300 h.

    5,990 min -> 0 stars: no change from 0.  6,000 min -> 1 star: an event 0 -> 1.
    A reversal back to 5,990 min at level 1 -> an event 1 -> 0.
    """
    policy, registered, day = load_default_policy(), dt.date(2020, 1, 1), dt.date(2026, 3, 3)
    common = dict(volunteer_id=7, transaction_id=99, policy_version_id=None, reason="service record 5")
    assert star_change(policy, 0, 5990, 5990, registered, day, **common) is None
    assert star_change(policy, 0, 6000, 6000, registered, day, **common) == StarChange(
        7, day, 0, 1, 99, None, "service record 5")
    assert star_change(policy, 1, 5990, 5990, registered, day, **common).level_after == 0


def test_star_conditions_that_depend_on_time():
    """Level 1 at 10 h with a service in each of the last 3 months and no complaint upheld in 12.

    On 2026-04-01 with service in Jan, Feb, Mar: 1 star.  On 2026-05-01 (Feb, Mar, Apr asked;
    April missing): 0.  A complaint upheld on 2025-09-10 bars the star on 2026-04-01 (within
    12 months) but not on 2026-09-11 (then service Jun, Jul, Aug is asked and given).
    """
    policy = Policy.parse("""
[policy]
name = "按月服务"
[points]
per_hour = 10
[stars]
[[stars.levels]]
hours = 10
served_each_of_last_months = 3
no_upheld_complaint_months = 12
""")
    assert needs_history(policy) and history_months(policy) == 12
    months = frozenset({(2026, 1), (2026, 2), (2026, 3), (2026, 6), (2026, 7), (2026, 8)})
    registered = dt.date(2020, 1, 1)
    level = lambda day, history: star_level(policy, 720, 720, registered, day, history=history)  # noqa: E731
    assert level(dt.date(2026, 4, 1), StarHistory(months)) == 1
    assert level(dt.date(2026, 3, 31), StarHistory(months)) == 0  # Dec 2025 had no service
    assert level(dt.date(2026, 5, 1), StarHistory(months)) == 0
    complained = StarHistory(months, (dt.date(2025, 9, 10),))
    assert level(dt.date(2026, 4, 1), complained) == 0
    assert missing_for_next_star(policy, 720, 720, registered, dt.date(2026, 4, 1), history=complained) == (
        "upheld_complaint",)
    assert level(dt.date(2026, 9, 11), complained) == 1


def test_minutes_to_next_star_agrees_with_the_level_shown():
    """650 h, registered 11 months: the hours give 2 stars (3 stars ask 600 h and 12 months).
    Shown 2: the third asks 600 h, all served -> 0 minutes (the months are missing).
    Shown 3 (after the daily review): 1000 h - 650 h = 350 h = 21,000 minutes to the fourth."""
    policy, day = load_default_policy(), dt.date(2026, 7, 1)
    registered = dt.date(2025, 8, 1)
    assert star_level(policy, 650 * 60, 0, registered, day) == 2
    assert minutes_to_next_star(policy, 650 * 60, 0, registered, day, level=2) == 0
    assert minutes_to_next_star(policy, 650 * 60, 0, registered, day, level=3) == 21000
