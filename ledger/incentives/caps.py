"""Caps (封顶): how many of a service's minutes are credited, given what was credited before.

Pure rules, no database.  `capped_minutes` is the one implementation of the caps: the
single path (`Policy.price`, with the sums the caps query read), the batch path
(`service.bulk`) and repricing (what-if, adjustment runs) all call it.  `RunningCredit`
keeps those sums while a caller walks a volunteer's records in service order, so that the
batch path and repricing count the records before each one exactly as the single path
reads them from the ledger.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from ledger.incentives.document import Caps


def capped_minutes(caps: Caps, minutes: int, same_day: int, same_year: int) -> int:
    """Minutes credited of `minutes` served: at most the per-activity cap, and what is left of
    the day's and the year's caps once `same_day` and `same_year` minutes were credited."""
    credited = minutes
    if caps.per_activity_minutes is not None:
        credited = min(credited, caps.per_activity_minutes)
    if caps.per_day_minutes is not None:
        credited = min(credited, max(0, caps.per_day_minutes - same_day))
    if caps.per_year_minutes is not None:
        credited = min(credited, max(0, caps.per_year_minutes - same_year))
    return credited


def may_bind(caps: Caps, minutes: int, same_day: int, same_year: int) -> bool:
    """True when a day or year cap could cut `minutes` with that much already counted.

    With `same_day`/`same_year` upper bounds of what was credited, False means the caps
    credit every minute whatever the exact sums are (caps only ever take a minimum)."""
    return ((caps.per_day_minutes is not None and same_day + minutes > caps.per_day_minutes)
            or (caps.per_year_minutes is not None and same_year + minutes > caps.per_year_minutes))


class RunningCredit:
    """Minutes credited so far per (volunteer, day) and (volunteer, year), while walking
    records in service order: what the caps of the next record count."""

    def __init__(self) -> None:
        self.day: dict[tuple[int, dt.date], int] = defaultdict(int)
        self.year: dict[tuple[int, int], int] = defaultdict(int)

    def before(self, volunteer_id: int, day: dt.date) -> tuple[int, int]:
        """(credited that day, credited that calendar year) so far."""
        return self.day[(volunteer_id, day)], self.year[(volunteer_id, day.year)]

    def add(self, volunteer_id: int, day: dt.date, credited: int) -> None:
        """Count a record's credited minutes."""
        if credited:
            self.day[(volunteer_id, day)] += credited
            self.year[(volunteer_id, day.year)] += credited
