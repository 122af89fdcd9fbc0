"""Star levels (星级): derived from credited hours only, never from points.

A level is held when its hours threshold is met (cumulative hours, or hours within one
calendar year, as the policy's `stars.basis` says), the volunteer has been registered for
its minimum number of full months, and, for a level that `requires_review`, the level is in
`reviewed_levels` (a 审核 decision recorded by an admin), and the conditions that depend on
time hold (a service in each of the last N months, no upheld complaint within N months).
Levels are climbed in order: the level is the highest one whose own conditions and those of
every lower level are met.  Conditions that change with time alone are evaluated each day by
the `review_stars` job (`incentives.star_review`), which records the change on the day it holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger.incentives.document import StarRule
from ledger.incentives.policy import Policy, add_months


def months_registered(registered_on: date, on_date: date) -> int:
    """Full months from registration (注册) to `on_date`; 1-31 to 2-29 counts as one month."""
    months = (on_date.year - registered_on.year) * 12 + on_date.month - registered_on.month
    if months > 0 and add_months(registered_on, months) > on_date:
        months -= 1
    return max(0, months)


@dataclass(frozen=True)
class StarHistory:
    """What star conditions that depend on time read: the months (year, month) in which the
    volunteer was credited service, and the days complaints against them were upheld."""

    served_months: frozenset[tuple[int, int]] = frozenset()
    complaint_days: tuple[date, ...] = ()


def needs_history(policy: Policy) -> bool:
    """Do the policy's levels depend on service month by month or on upheld complaints?"""
    return any(rule.served_each_of_last_months or rule.no_upheld_complaint_months for rule in policy.star_levels)


def history_months(policy: Policy) -> int:
    """How many months back the policy's star conditions look."""
    return max([0] + [max(rule.served_each_of_last_months, rule.no_upheld_complaint_months)
                      for rule in policy.star_levels])


def _basis_minutes(policy: Policy, cumulative_minutes: int, minutes_in_year: int) -> int:
    return cumulative_minutes if policy.star_basis == "cumulative_hours" else minutes_in_year


def _served_each_month(history: StarHistory, months: int, on_date: date) -> bool:
    """A service in each of the `months` full calendar months before `on_date`'s month."""
    index = on_date.year * 12 + on_date.month - 1
    return all(((index - back) // 12, (index - back) % 12 + 1) in history.served_months
               for back in range(1, months + 1))


def _missing(rule: StarRule, minutes: int, months: int, reviewed_levels: frozenset[int],
             history: StarHistory, on_date: date) -> tuple[str, ...]:
    missing = []
    if minutes < rule.minutes:
        missing.append("hours")
    if months < rule.min_months_registered:
        missing.append("months_registered")
    if rule.requires_review and rule.level not in reviewed_levels:
        missing.append("review")
    if rule.served_each_of_last_months and not _served_each_month(history, rule.served_each_of_last_months, on_date):
        missing.append("monthly_service")
    if rule.no_upheld_complaint_months:
        since = add_months(on_date, -rule.no_upheld_complaint_months)
        if any(since < day <= on_date for day in history.complaint_days):
            missing.append("upheld_complaint")
    return tuple(missing)


def star_level(
    policy: Policy,
    cumulative_minutes: int,
    minutes_in_year: int,
    registered_on: date,
    on_date: date,
    reviewed_levels: frozenset[int] = frozenset(),
    history: StarHistory | None = None,
) -> int:
    """The star level (0-5) held on `on_date`; `minutes_in_year` is the year the basis uses.

    `history` is needed when the policy's levels depend on time (`needs_history`)."""
    minutes = _basis_minutes(policy, cumulative_minutes, minutes_in_year)
    months = months_registered(registered_on, on_date)
    level = 0
    for rule in policy.star_levels:
        if _missing(rule, minutes, months, reviewed_levels, history or StarHistory(), on_date):
            break
        level = rule.level
    return level


def missing_for_next_star(
    policy: Policy,
    cumulative_minutes: int,
    minutes_in_year: int,
    registered_on: date,
    on_date: date,
    reviewed_levels: frozenset[int] = frozenset(),
    history: StarHistory | None = None,
) -> tuple[str, ...]:
    """What the next level still lacks: any of "hours", "months_registered", "review",
    "monthly_service", "upheld_complaint"; () at the top."""
    level = star_level(policy, cumulative_minutes, minutes_in_year, registered_on, on_date, reviewed_levels,
                       history)
    if level == len(policy.star_levels):
        return ()
    minutes = _basis_minutes(policy, cumulative_minutes, minutes_in_year)
    months = months_registered(registered_on, on_date)
    return _missing(policy.star_levels[level], minutes, months, reviewed_levels, history or StarHistory(), on_date)


def minutes_to_next_star(
    policy: Policy,
    cumulative_minutes: int,
    minutes_in_year: int,
    registered_on: date,
    on_date: date,
    reviewed_levels: frozenset[int] = frozenset(),
    level: int | None = None,
) -> int | None:
    """Minutes still to serve for the level above `level` (0 if only other conditions are
    missing); None at the top.  `level`: the level shown (the last star event), so that the
    figure agrees with it; by default the level the hours give now."""
    if level is None:
        level = star_level(policy, cumulative_minutes, minutes_in_year, registered_on, on_date, reviewed_levels)
    if level >= len(policy.star_levels):
        return None
    minutes = _basis_minutes(policy, cumulative_minutes, minutes_in_year)
    return max(0, policy.star_levels[level].minutes - minutes)


@dataclass(frozen=True)
class StarChange:
    """A star event (星级变动) to record: the level before and after, on a day, and why."""

    volunteer_id: int
    occurred_on: date
    level_before: int
    level_after: int
    transaction_id: int | None
    policy_version_id: int | None
    reason: str


def star_change(policy: Policy, level_before: int, cumulative_minutes: int, minutes_in_year: int,
                registered_on: date, on_date: date, *, volunteer_id: int, transaction_id: int | None,
                policy_version_id: int | None, reason: str, history: StarHistory | None = None) -> StarChange | None:
    """The event to record when the hours now give another level than `level_before`, else None.

    The one rule for when a star changes with the hours: a single posting, a batch, a
    reversal, an upheld complaint and hours carried in from another deployment all call it."""
    after = star_level(policy, cumulative_minutes, minutes_in_year, registered_on, on_date, history=history)
    if after == level_before:
        return None
    return StarChange(volunteer_id, on_date, level_before, after, transaction_id, policy_version_id, reason)
