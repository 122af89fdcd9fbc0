"""The pure incentive rules at the bottom of `ledger/incentives/`, without a database.

Each worked example is computed by hand in its docstring; the same functions are called by
the single path (`pricing`), the batch path (`service.bulk`) and repricing (what-if, adjustments).
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from ledger.incentives.caps import RunningCredit, capped_minutes, may_bind
from ledger.incentives.document import Caps
from ledger.incentives.funding import funding_unit, home_unit_on, version_in_force, version_label
from ledger.incentives.policy import load_default_policy
from ledger.incentives.stars import StarChange, star_change

DEFAULT_CAPS = Caps(per_activity_minutes=480, per_day_minutes=600, per_year_minutes=60000)


def test_caps_take_the_smallest_remainder():
    """Default caps (480 an activity, 600 a day, 60,000 a year).

    - 540 min served, nothing before: min(540, 480) = 480.
    - 300 min served, 420 already that day: 600 - 420 = 180 left -> 180.
    - 300 min served, 59,900 already that year: 100 left -> 100.
    - 300 min served, 600 already that day: 0 left -> 0.
    """
    assert capped_minutes(DEFAULT_CAPS, 540, 0, 0) == 480
    assert capped_minutes(DEFAULT_CAPS, 300, 420, 1000) == 180
    assert capped_minutes(DEFAULT_CAPS, 300, 0, 59900) == 100
    assert capped_minutes(DEFAULT_CAPS, 300, 600, 600) == 0
    assert capped_minutes(Caps(), 5000, 10**6, 10**7) == 5000


def test_may_bind_is_false_only_when_every_minute_is_credited():
    """480 + 100 = 580 <= 600 cannot bind; 480 + 121 = 601 > 600 can."""
    assert not may_bind(DEFAULT_CAPS, 100, 480, 480)
    assert may_bind(DEFAULT_CAPS, 121, 480, 480)
    assert not may_bind(Caps(), 10**6, 10**6, 10**6)


def test_running_credit_counts_in_service_order():
    """Three records of one volunteer on 3 March (300, 240, 200 min), day cap 600.

    First: 0 before -> 300 credited.  Second: 300 before -> 240.  Third: 540 before -> 60.
    The year holds 600; another volunteer's day starts at 0.
    """
    credit, day = RunningCredit(), dt.date(2026, 3, 3)
    credited = []
    for minutes in (300, 240, 200):
        capped = capped_minutes(DEFAULT_CAPS, minutes, *credit.before(7, day))
        credit.add(7, day, capped)
        credited.append(capped)
    assert credited == [300, 240, 60]
    assert credit.before(7, day) == (600, 600)
    assert credit.before(8, day) == (0, 0)


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
    assert version_label(versions[2]) == "v1@unit20" and version_label(None) == "default"


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
