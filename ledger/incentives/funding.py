"""Who funds a volunteer's points (积分出资方), and which policy version is in force: pure rules.

`funding_unit` is the one rule for the funding account's owner, used when a service is
priced (one by one, in bulk), when a rating, complaint or adjustment posts, and when a
transfer moves a balance between home units.  `version_in_force` is the one rule for the
policy version in force; the callers read the candidate versions their own way (one query
per unit and date in a request, every version of the batch's units at once in bulk).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Protocol, Sequence

from ledger.incentives.policy import Policy


def funds_by_home_unit(policy: Policy) -> bool:
    """Does the policy fund points from the volunteer's home unit ("unit"), rather than the county?"""
    return policy.funding == "unit"


def funding_unit(policy: Policy, home_unit_id: int | None, county_unit_id: int) -> int:
    """The volunteer's home unit when the policy funds by unit, else the county (积分出资方).

    `home_unit_id` may be None where the policy does not fund by unit (`funds_by_home_unit`)."""
    if funds_by_home_unit(policy):
        assert home_unit_id is not None, "a policy funding by unit needs the home unit"
        return home_unit_id
    return county_unit_id


def county_of(chain: Sequence[int]) -> int:
    """The county (中心, the tree's root) of a unit, from its ancestors nearest first."""
    return chain[-1]


class VersionLike(Protocol):
    """What the rule needs of a published version (a `PolicyVersion` row, or a tuple-like)."""

    unit_id: int
    effective_from: dt.date
    version: int


def version_in_force(chain: Sequence[int], versions: Iterable[VersionLike], on_date: dt.date):
    """The newest version effective on `on_date` of the nearest unit of `chain` that has one.

    `chain` is the unit and its ancestors, nearest first; None: the built-in default applies.
    """
    nearness = {unit_id: depth for depth, unit_id in enumerate(chain)}
    usable = [v for v in versions if v.unit_id in nearness and v.effective_from <= on_date]
    if not usable:
        return None
    return min(usable, key=lambda v: (nearness[v.unit_id], -v.effective_from.toordinal(), -v.version))


def version_label(version: VersionLike | None) -> str:
    """How a memo names the version: "单位12 第3版", or "默认"."""
    return f"单位{version.unit_id} 第{version.version}版" if version is not None else "默认"


def home_unit_on(home_periods: Iterable[tuple[dt.date, dt.date | None, int]], on_date: dt.date,
                 current_home_unit_id: int) -> int:
    """The volunteer's home unit on a date: the home membership (from, to, unit) valid that day
    that began last, else the current home unit.

    A record for service before a transfer that arrives after it is funded as on its
    service date, by the old home unit."""
    valid = [(start, unit) for start, end, unit in home_periods
             if start <= on_date and (end is None or end > on_date)]
    return max(valid, key=lambda period: period[0])[1] if valid else current_home_unit_id
