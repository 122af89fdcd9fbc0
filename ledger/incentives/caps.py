"""Caps (封顶): how much of a service is credited, given what was credited before in each scope.

Pure rules, no database.  A cap limits the sum of a volunteer's records in its scope (the
same activity, day, week Monday to Sunday, month, calendar year): a minutes cap limits the
hours credited (and so the points they earn), a points cap limits the points only.
`capped_minutes` and `capped_points` are the one implementation: the single path
(`Policy.price`, with the sums the caps query read), the batch path (`service.bulk`) and
repricing (what-if, adjustment runs) all call them.  `RunningCredit` keeps the sums while a
caller walks a volunteer's records in order, so that the batch path and repricing count the
records before each one as the single path reads them from the ledger.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Iterable, Mapping

from ledger.incentives.document import CAP_SCOPES, Caps

Used = Mapping[str, int]  # scope -> minutes (or points) already credited in the record's scope
NOTHING: Used = {}


def scope_key(scope: str, activity_id: int | None, day: dt.date) -> object:
    """Which activity, day, week (ISO year and week), month or year a record counts in."""
    if scope == "day":
        return day
    if scope == "activity":
        return activity_id
    if scope == "week":
        return day.isocalendar()[:2]
    if scope == "month":
        return (day.year, day.month)
    return day.year


def _capped(limits: tuple[tuple[str, int], ...], amount: int, used: Used) -> int:
    for scope, limit in limits:
        amount = min(amount, max(0, limit - used.get(scope, 0)))
    return amount


def capped_minutes(caps: Caps, minutes: int, used: Used) -> int:
    """Minutes credited of `minutes` served: no more than what each minutes cap has left."""
    return _capped(caps.minutes_limits, minutes, used)


def capped_points(caps: Caps, points: int, used: Used) -> int:
    """Points awarded of `points` earned: no more than what each points cap has left."""
    return _capped(caps.points_limits, points, used) if points > 0 else points


def scopes_capped(caps: Caps, measure: str) -> tuple[str, ...]:
    """The scopes in which `caps` limits `measure`."""
    return tuple(scope for scope, _limit in (caps.minutes_limits if measure == "minutes" else caps.points_limits))


def may_bind(caps: Caps, minutes: int, used: Used) -> bool:
    """True when a cap could cut the record with `used` minutes counted in each scope.

    With `used` upper bounds of what was credited, False means the caps credit every minute
    and every point whatever the exact sums are (minutes caps only ever take a minimum; any
    points cap needs the exact points)."""
    if caps.points_limits:
        return True
    return any(used.get(scope, 0) + minutes > limit for scope, limit in caps.minutes_limits)


class RunningCredit:
    """Minutes and points credited so far per volunteer in each scope, while walking records
    in order: what the caps of the next record count.  Only `scopes` are kept."""

    def __init__(self, scopes: Iterable[str] = CAP_SCOPES, points: bool = True) -> None:
        self.scopes = tuple(scopes)
        self.keeps_points = points  # False: no points cap to count for, points are not kept
        self.minutes: dict[tuple, int] = defaultdict(int)
        self.points: dict[tuple, int] = defaultdict(int)

    def keys(self, volunteer_id: int, activity_id: int | None, day: dt.date) -> list[tuple[str, tuple]]:
        """The record's key in each scope kept (computed once for `used` and `count`)."""
        return [(scope, (volunteer_id, scope, day if scope == "day" else activity_id if scope == "activity"
                         else scope_key(scope, activity_id, day))) for scope in self.scopes]

    def used(self, keys: list[tuple[str, tuple]]) -> tuple[Used, Used]:
        """(minutes, points) credited so far in each scope of a record's `keys`."""
        minutes = self.minutes
        return ({scope: minutes.get(key, 0) for scope, key in keys},
                {scope: self.points.get(key, 0) for scope, key in keys} if self.keeps_points else NOTHING)

    def count(self, keys: list[tuple[str, tuple]], minutes: int, points: int = 0) -> None:
        """Count a record's credited minutes and points in each scope of its `keys`."""
        if minutes or points:
            kept_minutes, kept_points = self.minutes, self.points
            for _scope, key in keys:
                kept_minutes[key] += minutes
                if self.keeps_points:
                    kept_points[key] += points

    def before(self, volunteer_id: int, activity_id: int | None, day: dt.date) -> tuple[Used, Used]:
        """(minutes, points) credited so far in each scope of a record."""
        return self.used(self.keys(volunteer_id, activity_id, day))

    def add(self, volunteer_id: int, activity_id: int | None, day: dt.date, minutes: int, points: int = 0) -> None:
        """Count a record's credited minutes and points."""
        self.count(self.keys(volunteer_id, activity_id, day), minutes, points)

    def forget(self, volunteer_ids: set[int]) -> None:
        """Drop what is kept of these volunteers (their exact sums are read again)."""
        self.minutes = defaultdict(int, {k: v for k, v in self.minutes.items() if k[0] not in volunteer_ids})
        self.points = defaultdict(int, {k: v for k, v in self.points.items() if k[0] not in volunteer_ids})
