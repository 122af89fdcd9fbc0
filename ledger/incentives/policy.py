"""Incentive policy (嘉许激励办法): prices one service record into credited minutes and points.

A `Policy` is parsed from a TOML document (schema in `ledger/policy_document.py`, example in
`ledger/incentives/default_policy.toml`).  Pricing is pure: the caller passes `ServiceFacts`, including
the minutes already credited to the volunteer that day and that year, and gets a `Pricing`.
No floats: minutes and points are int, rates are Decimal, arithmetic is exact (Fraction) and
rounding to whole points happens only in `round_points`, by the policy's declared rule.
"""
from __future__ import annotations

import hashlib
import json
import math
from calendar import monthrange
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ledger.errors import ValidationFailed
from ledger.incentives import document
from ledger.incentives.caps import capped_minutes, capped_points, scopes_capped
from ledger.incentives.coherence import check_tags
from ledger.incentives.document import Caps, DateTag, StarRule, decimal_text

MINUTES_PER_HOUR = 60
# complaint rules under which an upheld complaint leaves the record itself no points
ZEROING_COMPLAINTS = frozenset({"zero_points", "zero_hours_and_points", "zero_activity_points"})
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")


@dataclass(frozen=True)
class ServiceFacts:
    """What pricing needs to know about one approved service record (服务记录)."""

    minutes: int
    service_date: date
    category: str
    tags: frozenset[str] = frozenset()
    rating: int | None = None
    complaint_upheld: bool = False
    service_kind: str | None = None
    credited_minutes_same_day: int = 0
    credited_minutes_same_year: int = 0
    # what the caps count before this record, per scope (activity, day, week, month, year);
    # None: the day and the year above, nothing in the other scopes
    used_minutes: Mapping[str, int] | None = None
    used_points: Mapping[str, int] | None = None

    def minutes_before(self) -> Mapping[str, int]:
        """Minutes credited before this record in each cap's scope."""
        if self.used_minutes is not None:
            return self.used_minutes
        return {"day": self.credited_minutes_same_day, "year": self.credited_minutes_same_year}


@dataclass(frozen=True)
class Pricing:
    """The result of pricing: credited minutes (计入时长), points (积分) and why."""

    credited_minutes: int
    points: int
    multiplier: Decimal
    breakdown: dict[str, Any]


def round_points(amount: Fraction, rule: str) -> int:
    """Round an exact amount of points to a whole number by the policy's rule (取整规则)."""
    if amount < 0:
        mirrored = {"floor": "ceil", "ceil": "floor"}.get(rule, rule)
        return -round_points(-amount, mirrored)
    whole = math.floor(amount)
    rest = amount - whole
    if rest == 0 or rule in ("down", "floor"):
        return whole
    if rule in ("up", "ceil"):
        return whole + 1
    half = Fraction(1, 2)
    if rest != half:
        return whole + (1 if rest > half else 0)
    if rule == "half_up":
        return whole + 1
    if rule == "half_even":
        return whole + whole % 2
    raise ValueError(f"unknown rounding rule {rule!r}")


@dataclass(frozen=True, eq=False)
class Policy:
    """A validated policy document; equal policies have the same `content_hash()`."""

    name: str
    description: str
    points_per_hour: Decimal
    rounding: str
    funding: str
    stack: str
    tag_multipliers: dict[str, Decimal]
    rating_multipliers: dict[str, Decimal]
    category_multipliers: dict[str, Decimal]
    categories: tuple[str, ...]
    no_points_kinds: frozenset[str]
    no_hours_kinds: frozenset[str]
    caps: Caps
    complaint_upheld: str
    expiry_rule: str
    expiry_months: int | None
    star_basis: str
    star_levels: tuple[StarRule, ...]
    date_tags: tuple[DateTag, ...]
    activity_tags: tuple[str, ...] | None = None  # service.tags: the activity tags the policy knows
    complaint_deduct_points: int | None = None  # complaints.deduct_points, with upheld = "deduct"

    @classmethod
    def parse(cls, text: str) -> Policy:
        """Parse and validate a TOML policy document; raises PolicyInvalid(path, reason)."""
        return cls.from_dict(document.read_document(text))

    @classmethod
    def from_dict(cls, data: Any) -> Policy:
        """Validate plain data (parsed TOML or canonical JSON) into a Policy."""
        fields = document.validate(data)
        check_tags(fields)
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """The canonical plain-data form, every default filled, decimals as strings."""
        return document.canonical_dict(self)

    def to_canonical_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces, UTF-8 text) for storage and hashing."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def content_hash(self) -> str:
        """sha256 hex digest of the canonical JSON: the version fingerprint."""
        return hashlib.sha256(self.to_canonical_json().encode("utf-8")).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return self.to_canonical_json() == other.to_canonical_json()

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def date_tags_on(self, day: date) -> frozenset[str]:
        """Tags the date itself carries: every monthly day, plus the top-precedence range."""
        names = {tag.name for tag in self.date_tags if not tag.is_range and tag.covers(day)}
        ranges = [tag for tag in self.date_tags if tag.is_range and tag.covers(day)]
        if ranges:
            names.add(max(ranges, key=lambda tag: -1 if tag.precedence is None else tag.precedence).name)
        return frozenset(names)

    def price(self, facts: ServiceFacts) -> Pricing:
        """Price one service record: minutes caps first, then multipliers, rounding, points caps."""
        self._check(facts)
        credited, breakdown = self._credit(facts)
        multiplier, factors = self._multiplier(facts)
        exact = Fraction(credited) * Fraction(self.points_per_hour) * Fraction(multiplier) / MINUTES_PER_HOUR
        points = capped_points(self.caps, round_points(exact, self.rounding), facts.used_points or {})
        zeroed_by = self._zeroed_by(facts)
        breakdown.update({
            "points_per_hour": decimal_text(self.points_per_hour),
            "factors": factors,
            "stack": self.stack,
            "multiplier": decimal_text(multiplier),
            "exact_points": _fraction_text(exact),
            "rounding": self.rounding,
            **({"points_capped_to": points} if scopes_capped(self.caps, "points") else {}),
            "zeroed_by": zeroed_by,
            "points": 0 if zeroed_by else points,
        })
        return Pricing(credited, breakdown["points"], multiplier, breakdown)

    def rating_bonus(self, facts: ServiceFacts, rating: int) -> int:
        """Points a late 评单 rating adds: price with `rating` minus price without any rating."""
        with_rating = self.price(replace(facts, rating=rating)).points
        return with_rating - self.price(replace(facts, rating=None)).points

    def expiry_date(self, earned_on: date) -> date | None:
        """Last day on which points earned on `earned_on` may be spent; None if they never expire."""
        if self.expiry_rule == "end_of_following_year":
            return date(earned_on.year + 1, 12, 31)
        if self.expiry_rule == "months":
            anniversary = add_months(earned_on, self.expiry_months or 0)
            return date(anniversary.year, anniversary.month, monthrange(anniversary.year, anniversary.month)[1])
        return None

    def _check(self, facts: ServiceFacts) -> None:
        for name in ("minutes", "credited_minutes_same_day", "credited_minutes_same_year"):
            value = getattr(facts, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationFailed(f"{name} must be a non-negative whole number of minutes", field=name)
        if facts.category not in self.categories:
            raise ValidationFailed(f"unknown service category {facts.category!r}", field="category")
        if facts.rating is not None and str(facts.rating) not in document.RATINGS:
            raise ValidationFailed("rating must be 1 to 5", field="rating")

    def _credit(self, facts: ServiceFacts) -> tuple[int, dict[str, Any]]:
        caps, used = self.caps, facts.minutes_before()
        steps: dict[str, Any] = {"minutes": facts.minutes, "service_kind": facts.service_kind}
        if caps.per_activity_minutes is not None:
            steps["per_activity_cap"] = caps.per_activity_minutes
        for scope in scopes_capped(caps, "minutes"):
            if scope in used:
                steps[f"{scope}_remaining"] = max(0, caps.limit("minutes", scope) - used[scope])
        credited = capped_minutes(caps, facts.minutes, used)
        steps["capped_minutes"] = credited
        if facts.service_kind in self.no_hours_kinds:
            credited = 0
        elif facts.complaint_upheld and self.complaint_upheld == "zero_hours_and_points":
            credited = 0
        steps["credited_minutes"] = credited
        return credited, steps

    def _multiplier(self, facts: ServiceFacts) -> tuple[Decimal, list[dict[str, Any]]]:
        date_tags = self.date_tags_on(facts.service_date)
        derived_names = {tag.name for tag in self.date_tags}
        explicit = sorted(facts.tags - derived_names)  # date tags come from the date only
        factors: list[dict[str, Any]] = []
        for source, names in (("tag", explicit), ("date_tag", sorted(date_tags))):
            factors += [_factor(source, name, self.tag_multipliers.get(name)) for name in names]
        if facts.rating is not None:
            factors.append(_factor("rating", str(facts.rating), self.rating_multipliers.get(str(facts.rating))))
        factors.append(_factor("category", facts.category, self.category_multipliers.get(facts.category)))
        applied = [Decimal(factor["multiplier"]) for factor in factors if factor["applies"]]
        if self.stack == "max":
            return (max(applied) if applied else Decimal(1)), factors
        product = Decimal(1)
        with localcontext() as context:
            context.prec = 60  # a product of a few short decimals: exact at this precision
            for value in applied:
                product *= value
        return Decimal(decimal_text(product)), factors  # 2.5920 -> 2.592, never 1E+1

    def _zeroed_by(self, facts: ServiceFacts) -> str | None:
        if facts.service_kind in self.no_hours_kinds:
            return "no_hours_kind"
        if facts.service_kind in self.no_points_kinds:
            return "no_points_kind"
        if facts.complaint_upheld and self.complaint_upheld in ZEROING_COMPLAINTS:
            return "complaint_upheld"
        return None


def load_default_policy() -> Policy:
    """The default policy shipped as `ledger/incentives/default_policy.toml`."""
    return Policy.parse(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def _factor(source: str, name: str, multiplier: Decimal | None) -> dict[str, Any]:
    if multiplier is None:
        return {"source": source, "name": name, "multiplier": "1", "applies": False}
    return {"source": source, "name": name, "multiplier": decimal_text(multiplier), "applies": True}


def _fraction_text(amount: Fraction) -> str:
    with localcontext() as context:
        context.prec = 28
        return decimal_text(Decimal(amount.numerator) / Decimal(amount.denominator))


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (1-31 + 1 month -> 2-28/29)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class PointLot:
    """Points (积分) that share one expiry date; `expires_on` is the last day they may be spent."""

    expires_on: date | None
    points: int


def point_lots(entries: Iterable[tuple[date | None, int]]) -> list[PointLot]:
    """Sum (expires_on, points) pairs into lots, soonest expiry first, never-expiring last."""
    totals: dict[date | None, int] = {}
    for expires_on, points in entries:
        totals[expires_on] = totals.get(expires_on, 0) + points
    return _ordered(PointLot(expires_on, points) for expires_on, points in totals.items())


def _ordered(lots: Iterable[PointLot]) -> list[PointLot]:
    ordered = sorted(lots, key=lambda lot: (lot.expires_on is None, lot.expires_on or date.max))
    for lot in ordered:
        if lot.points < 0:
            raise ValidationFailed("a point lot cannot be negative", field="lots")
    return ordered


def open_lots(lots: Sequence[PointLot], debits_total: int) -> list[PointLot]:
    """What is left of each lot once `debits_total` is taken from the oldest lots first (先到期先扣)."""
    if debits_total < 0:
        raise ValidationFailed("debits_total cannot be negative", field="debits_total")
    remaining, left = debits_total, []
    for lot in _ordered(lots):
        used = min(lot.points, remaining)
        remaining -= used
        if lot.points > used:
            left.append(PointLot(lot.expires_on, lot.points - used))
    return left


def expiring_points(lots: Sequence[PointLot], debits_total: int, as_of: date) -> int:
    """Points to expire now: max(0, sum of lots with expires_on < as_of - debits_total).

    `lots` are all points ever earned (net of reversed awards); `debits_total` is everything
    ever taken out of the volunteer's points (redemptions, transfers out, and the expiries
    already posted).  Because debits consume the soonest-expiring lots first, what is left of
    the lots that ended before `as_of` is exactly that formula.  Posting the result as an
    expiry debit makes a second call for the same `as_of` return 0.
    """
    return sum(lot.points for lot in open_lots(lots, debits_total)
               if lot.expires_on is not None and lot.expires_on < as_of)


def spendable_points(lots: Sequence[PointLot], debits_total: int, as_of: date) -> int:
    """Points that may still be spent on `as_of`: earned - debited - expired but not yet posted."""
    earned = sum(lot.points for lot in lots)
    return earned - debits_total - expiring_points(lots, debits_total, as_of)


def service_memo(title: str, credited_minutes: int, points: int, version_label: str, multiplier: Decimal) -> str:
    """The memo of a service transaction: what was credited, under which version, at what rate."""
    return f"{title}：{credited_minutes} 分钟，{points} 积分（激励办法 {version_label}，×{multiplier}）"


def complaint_takes(policy: Policy, awarded_minutes: int, awarded_points: int, activity_points: int) -> tuple[int, int]:
    """(minutes, points) an upheld complaint (投诉) takes back, as the policy says.

    `awarded_*`: what the ledger gave the record so far; `activity_points`: the points of the
    volunteer's records in the same activity.  Hours are taken only by "zero_hours_and_points"."""
    rule = policy.complaint_upheld
    if rule == "zero_hours_and_points":
        return awarded_minutes, awarded_points
    if rule == "zero_points":
        return 0, awarded_points
    if rule == "zero_activity_points":
        return 0, activity_points
    if rule == "deduct":
        return 0, policy.complaint_deduct_points or 0
    return 0, 0
