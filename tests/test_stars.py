"""Star levels (星级) come from credited hours, the months since registration, and review."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from ledger.incentives.policy import Policy
from ledger.incentives.stars import minutes_to_next_star, missing_for_next_star, months_registered, star_level

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "ledger" / "incentives" / "default_policy.toml"
HOUR = 60
LONG_AGO = date(2015, 1, 1)
TODAY = date(2026, 6, 30)


@pytest.fixture(scope="module")
def national() -> Policy:
    # 100 / 300 / 600 (12 months) / 1000 (24 months) / 1500 hours (36 months, reviewed)
    return Policy.parse(DEFAULT_POLICY.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def yearly() -> Policy:
    return Policy.parse("""
[policy]
name = "年度星级"
[points]
per_hour = 10
[stars]
basis = "year_hours"
[[stars.levels]]
hours = 20
[[stars.levels]]
hours = 50
[[stars.levels]]
hours = 100
""")


@pytest.mark.parametrize("hours, minutes, expected", [
    (0, 0, 0), (99, 59, 0), (100, 0, 1), (299, 59, 1), (300, 0, 2), (600, 0, 3), (1000, 0, 4), (5000, 0, 4),
])
def test_cumulative_hours_give_the_national_levels(national, hours, minutes, expected):
    cumulative = hours * HOUR + minutes
    assert star_level(national, cumulative, 0, LONG_AGO, TODAY) == expected


def test_one_minute_short_of_one_star(national):
    # 99 h 59 min = 5999 min; one star needs 100 h = 6000 min -> 1 minute to go
    assert minutes_to_next_star(national, 5999, 0, LONG_AGO, TODAY) == 1
    assert missing_for_next_star(national, 5999, 0, LONG_AGO, TODAY) == ("hours",)


def test_three_stars_wait_for_twelve_months_of_registration(national):
    # 650 h but registered 2025-07-01: on 2026-06-30 that is 11 full months -> stays at 2 stars
    registered = date(2025, 7, 1)
    assert star_level(national, 650 * HOUR, 0, registered, date(2026, 6, 30)) == 2
    assert minutes_to_next_star(national, 650 * HOUR, 0, registered, date(2026, 6, 30)) == 0
    assert missing_for_next_star(national, 650 * HOUR, 0, registered, date(2026, 6, 30)) == ("months_registered",)
    # on 2026-07-01 the 12th month is complete -> 3 stars; 1000 h - 650 h = 350 h = 21000 min to go
    assert star_level(national, 650 * HOUR, 0, registered, date(2026, 7, 1)) == 3
    assert minutes_to_next_star(national, 650 * HOUR, 0, registered, date(2026, 7, 1)) == 21000


def test_five_stars_need_a_review(national):
    assert star_level(national, 1600 * HOUR, 0, LONG_AGO, TODAY) == 4
    assert missing_for_next_star(national, 1600 * HOUR, 0, LONG_AGO, TODAY) == ("review",)
    assert star_level(national, 1600 * HOUR, 0, LONG_AGO, TODAY, reviewed_levels=frozenset({5})) == 5
    assert minutes_to_next_star(national, 1600 * HOUR, 0, LONG_AGO, TODAY, frozenset({5})) is None
    assert missing_for_next_star(national, 1600 * HOUR, 0, LONG_AGO, TODAY, frozenset({5})) == ()


def test_yearly_basis_reads_only_the_hours_of_the_year(yearly):
    # 2000 h over the years but 35 h this year: 20 <= 35 < 50 -> 1 star; 50 h - 35 h = 15 h = 900 min
    assert star_level(yearly, 2000 * HOUR, 35 * HOUR, LONG_AGO, TODAY) == 1
    assert minutes_to_next_star(yearly, 2000 * HOUR, 35 * HOUR, LONG_AGO, TODAY) == 900
    assert star_level(yearly, 2000 * HOUR, 100 * HOUR, LONG_AGO, TODAY) == 3


@pytest.mark.parametrize("registered, on, expected", [
    (date(2024, 1, 31), date(2024, 2, 28), 0),
    (date(2024, 1, 31), date(2024, 2, 29), 1),  # the month ends before the 31st: clamped
    (date(2025, 3, 15), date(2026, 3, 14), 11),
    (date(2025, 3, 15), date(2026, 3, 15), 12),
    (date(2026, 3, 15), date(2026, 1, 1), 0),  # before registration
])
def test_full_months_registered(registered, on, expected):
    assert months_registered(registered, on) == expected


@given(st.integers(0, 3000 * HOUR), st.integers(0, 600 * HOUR),
       st.dates(date(2015, 1, 1), date(2026, 6, 30)), st.frozensets(st.integers(1, 5)))
def test_more_hours_never_lower_the_level(cumulative, extra, registered, reviewed):
    national = Policy.parse(DEFAULT_POLICY.read_text(encoding="utf-8"))
    before = star_level(national, cumulative, 0, registered, TODAY, reviewed)
    after = star_level(national, cumulative + extra, 0, registered, TODAY, reviewed)
    assert 0 <= before <= after <= 5
