"""The policy document (嘉许激励办法) schema: read TOML, validate every field by dotted path.

`read_document` turns TOML text into plain data (decimals stay `Decimal`, never float);
`validate` checks that data and returns the keyword arguments of `ledger.policy.Policy`;
`canonical_dict` writes a policy back as plain JSON-ready data with every default filled.
Every refusal is `PolicyInvalid(path, reason)` with the exact dotted path of the field.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from ledger.errors import PolicyInvalid

ROUNDING_RULES = ("half_up", "half_even", "down", "floor", "up", "ceil")
STACK_RULES = ("multiply", "max")
FUNDING_RULES = ("county", "unit", "none")
EXPIRY_RULES = ("none", "end_of_following_year", "months")
STAR_BASES = ("cumulative_hours", "year_hours")
COMPLAINT_RULES = ("zero_points", "zero_hours_and_points", "zero_activity_points", "deduct", "ignore")
RATINGS = ("1", "2", "3", "4", "5")
MAX_STAR_LEVELS = 5
MINUTES_PER_DAY = 1440
# The eight national service categories of the "8+N" teams (服务类别); a policy may add its N.
NATIONAL_CATEGORIES = (
    "理论政策宣讲", "文化文艺", "助学支教", "医疗健身", "科学普及", "法律服务", "卫生环保", "扶贫帮困",
)
_MISSING = object()


@dataclass(frozen=True)
class StarRule:
    """One star level (星级): the hours threshold and the extra conditions."""

    level: int
    minutes: int
    min_months_registered: int = 0
    requires_review: bool = False
    served_each_of_last_months: int = 0  # a service in each of the N full months before the day
    no_upheld_complaint_months: int = 0  # no complaint upheld within the N months before the day


@dataclass(frozen=True)
class DateTag:
    """A tag derived from the service date: a named date range, or a day of every month."""

    name: str
    start: date | None = None
    end: date | None = None
    monthly_day: int | None = None
    precedence: int | None = None

    @property
    def is_range(self) -> bool:
        """True for a date range (春节 2026-02-16..2026-02-22), False for a monthly day."""
        return self.monthly_day is None

    def covers(self, day: date) -> bool:
        """True when `day` falls in this tag (a month without `monthly_day` never matches)."""
        if self.monthly_day is not None:
            return day.day == self.monthly_day
        return self.start <= day <= self.end  # type: ignore[operator]


CAP_SCOPES = ("activity", "day", "week", "month", "year")
CAP_MEASURES = ("minutes", "points")
MINUTES_PER_SCOPE = {"day": 1440, "week": 7 * 1440, "month": 31 * 1440, "year": 366 * 1440}


@dataclass(frozen=True)
class Caps:
    """Upper bounds (封顶) per volunteer; None means no cap.

    Each cap limits the sum of the volunteer's records in its scope (the same activity, day,
    week Monday to Sunday, month, calendar year): `*_minutes` caps the hours credited (and so
    the points they earn), `*_points` caps the points only, every hour still counting."""

    per_activity_minutes: int | None = None
    per_day_minutes: int | None = None
    per_year_minutes: int | None = None
    per_week_minutes: int | None = None
    per_month_minutes: int | None = None
    per_activity_points: int | None = None
    per_day_points: int | None = None
    per_week_points: int | None = None
    per_month_points: int | None = None
    per_year_points: int | None = None

    def limit(self, measure: str, scope: str) -> int | None:
        """The cap on `measure` ("minutes" or "points") per `scope`, or None."""
        return getattr(self, f"per_{scope}_{measure}")

    @cached_property
    def minutes_limits(self) -> tuple[tuple[str, int], ...]:
        """(scope, cap) of every minutes cap, in scope order (read once: pricing loops over it)."""
        return tuple((scope, limit) for scope in CAP_SCOPES if (limit := self.limit("minutes", scope)) is not None)

    @cached_property
    def points_limits(self) -> tuple[tuple[str, int], ...]:
        """(scope, cap) of every points cap, in scope order."""
        return tuple((scope, limit) for scope in CAP_SCOPES if (limit := self.limit("points", scope)) is not None)


def read_document(text: str) -> dict[str, Any]:
    """Parse TOML text into plain data; malformed TOML is refused at path "document"."""
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise PolicyInvalid("document", f"malformed TOML: {error}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Table:
    """A table of the document being read: refuses unknown keys, knows its path."""

    def __init__(self, data: Any, path: str, keys: tuple[str, ...]):
        if not isinstance(data, dict):
            raise PolicyInvalid(path or "document", "must be a table")
        for key in data:
            if key not in keys:
                raise PolicyInvalid(_join(path, str(key)), "unknown key")
        self.data, self.path = data, path

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data and self.data[key] is not None:
            return self.data[key]
        if default is _MISSING:
            raise PolicyInvalid(self.at(key), "required key is missing")
        return default


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyInvalid(path, "must be a non-empty string")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise PolicyInvalid(path, "must be a string")
    return value


def _choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise PolicyInvalid(path, "must be a string")
    if value not in choices:
        raise PolicyInvalid(path, f"unknown value {value!r}; expected one of {', '.join(choices)}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyInvalid(path, "must be true or false")
    return value


def _int(value: Any, path: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyInvalid(path, "must be an integer")
    if value < minimum:
        raise PolicyInvalid(path, "must not be negative" if minimum == 0 else f"must be at least {minimum}")
    return value


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise PolicyInvalid(path, "must be an exact decimal number (int, Decimal or string), not float")
    try:
        number = Decimal(value) if isinstance(value, (int, str, Decimal)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise PolicyInvalid(path, "must be a finite decimal number")
    if number < 0:
        raise PolicyInvalid(path, "must not be negative")
    return number


def _date(value: Any, path: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PolicyInvalid(path, "must be a date YYYY-MM-DD") from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise PolicyInvalid(path, "must be a date YYYY-MM-DD without a time")
    return value


def _names(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise PolicyInvalid(path, "must be a list of strings")
    seen: list[str] = []
    for index, item in enumerate(value):
        name = _text(item, f"{path}[{index}]")
        if name in seen:
            raise PolicyInvalid(f"{path}[{index}]", f"duplicate {name!r}")
        seen.append(name)
    return tuple(seen)


def _rates(table: _Table, key: str, allowed: tuple[str, ...] | None, why: str) -> dict[str, Decimal]:
    raw = table.get(key, {})
    if not isinstance(raw, dict):
        raise PolicyInvalid(table.at(key), "must be a table of name = multiplier")
    rates = _Table(raw, table.at(key), tuple(raw))
    result = {}
    for name, value in rates.data.items():
        if allowed is not None and name not in allowed:
            raise PolicyInvalid(rates.at(name), why)
        result[name] = _decimal(value, rates.at(name))
    return result


def validate(data: Any) -> dict[str, Any]:
    """Check a whole document and return the keyword arguments of `Policy`."""
    root = _Table(data, "", ("policy", "points", "multipliers", "service", "caps",
                             "complaints", "expiry", "stars", "date_tags"))
    fields: dict[str, Any] = {}
    fields.update(_policy_section(root))
    fields.update(_points_section(root))
    fields.update(_service_section(root))
    fields.update(_multipliers_section(root, fields["categories"]))
    fields.update(_caps_section(root))
    fields.update(_expiry_section(root))
    fields.update(_stars_section(root))
    fields["date_tags"] = _date_tags_section(root)
    fields.update(_complaints_section(root))
    return fields


def _complaints_section(root: _Table) -> dict[str, Any]:
    """投诉: what an upheld complaint does to points (never to hours, unless the rule says so)."""
    table = _Table(root.get("complaints", {}), "complaints", ("upheld", "deduct_points"))
    rule = _choice(table.get("upheld", "zero_points"), table.at("upheld"), COMPLAINT_RULES)
    deduct = table.get("deduct_points", None)
    if rule == "deduct":
        deduct = _int(table.get("deduct_points"), table.at("deduct_points"), 1)
    elif deduct is not None:
        raise PolicyInvalid(table.at("deduct_points"), 'only allowed when upheld = "deduct"')
    return {"complaint_upheld": rule, "complaint_deduct_points": deduct}


def _policy_section(root: _Table) -> dict[str, Any]:
    table = _Table(root.get("policy"), "policy", ("name", "description"))
    return {"name": _text(table.get("name"), table.at("name")),
            "description": _string(table.get("description", ""), table.at("description"))}


def _points_section(root: _Table) -> dict[str, Any]:
    table = _Table(root.get("points"), "points", ("per_hour", "rounding", "funding"))
    return {
        "points_per_hour": _decimal(table.get("per_hour"), table.at("per_hour")),
        "rounding": _choice(table.get("rounding", "half_up"), table.at("rounding"), ROUNDING_RULES),
        "funding": _choice(table.get("funding", "county"), table.at("funding"), FUNDING_RULES),
    }


def _service_section(root: _Table) -> dict[str, Any]:
    table = _Table(root.get("service", {}), "service", ("categories", "tags", "no_points_kinds", "no_hours_kinds"))
    categories = table.get("categories", list(NATIONAL_CATEGORIES))
    tags = table.get("tags", None)
    return {
        "activity_tags": None if tags is None else _names(tags, table.at("tags")),
        "categories": _names(categories, table.at("categories")),
        "no_points_kinds": frozenset(_names(table.get("no_points_kinds", []), table.at("no_points_kinds"))),
        "no_hours_kinds": frozenset(_names(table.get("no_hours_kinds", []), table.at("no_hours_kinds"))),
    }


def _multipliers_section(root: _Table, categories: tuple[str, ...]) -> dict[str, Any]:
    table = _Table(root.get("multipliers", {}), "multipliers", ("stack", "tag", "rating", "category"))
    return {
        "stack": _choice(table.get("stack", "multiply"), table.at("stack"), STACK_RULES),
        "tag_multipliers": _rates(table, "tag", None, ""),
        "rating_multipliers": _rates(table, "rating", RATINGS, "unknown rating; expected 1 to 5"),
        "category_multipliers": _rates(table, "category", categories,
                                       "unknown service category (not in service.categories)"),
    }


def _caps_section(root: _Table) -> dict[str, Any]:
    keys = tuple(f"per_{scope}_{measure}" for measure in CAP_MEASURES for scope in CAP_SCOPES)
    table = _Table(root.get("caps", {}), "caps", keys)
    values = {key: (None if table.get(key, None) is None else _int(table.get(key), table.at(key), 1))
              for key in keys}
    for scope, most in MINUTES_PER_SCOPE.items():
        if (values[f"per_{scope}_minutes"] or 0) > most:
            raise PolicyInvalid(table.at(f"per_{scope}_minutes"), f"a {scope} has only {most} minutes")
    return {"caps": Caps(**values)}


def _expiry_section(root: _Table) -> dict[str, Any]:
    table = _Table(root.get("expiry", {}), "expiry", ("rule", "months"))
    rule = _choice(table.get("rule", "none"), table.at("rule"), EXPIRY_RULES)
    months = table.get("months", None)
    if rule == "months":
        months = _int(table.get("months"), table.at("months"), 1)
    elif months is not None:
        raise PolicyInvalid(table.at("months"), 'only allowed when rule = "months"')
    return {"expiry_rule": rule, "expiry_months": months}


def _stars_section(root: _Table) -> dict[str, Any]:
    table = _Table(root.get("stars"), "stars", ("basis", "levels"))
    basis = _choice(table.get("basis", "cumulative_hours"), table.at("basis"), STAR_BASES)
    levels = table.get("levels")
    if not isinstance(levels, list) or not 1 <= len(levels) <= MAX_STAR_LEVELS:
        raise PolicyInvalid(table.at("levels"), f"must be a list of 1 to {MAX_STAR_LEVELS} levels")
    rules: list[StarRule] = []
    for index, raw in enumerate(levels):
        rules.append(_star_rule(raw, f"stars.levels[{index}]", index + 1, rules))
    return {"star_basis": basis, "star_levels": tuple(rules)}


def _star_rule(raw: Any, path: str, level: int, lower: list[StarRule]) -> StarRule:
    table = _Table(raw, path, ("hours", "min_months_registered", "requires_review", "served_each_of_last_months",
                               "no_upheld_complaint_months"))
    minutes = _int(table.get("hours"), table.at("hours"), 1) * 60
    if lower and minutes <= lower[-1].minutes:
        below = f"stars.levels[{level - 2}].hours ({lower[-1].minutes // 60})"
        raise PolicyInvalid(table.at("hours"), f"must be greater than {below}")
    return StarRule(
        level=level,
        minutes=minutes,
        min_months_registered=_int(table.get("min_months_registered", 0),
                                   table.at("min_months_registered"), 0),
        requires_review=_bool(table.get("requires_review", False), table.at("requires_review")),
        served_each_of_last_months=_int(table.get("served_each_of_last_months", 0),
                                        table.at("served_each_of_last_months"), 0),
        no_upheld_complaint_months=_int(table.get("no_upheld_complaint_months", 0),
                                        table.at("no_upheld_complaint_months"), 0),
    )


def _date_tags_section(root: _Table) -> tuple[DateTag, ...]:
    raw = root.get("date_tags", [])
    if not isinstance(raw, list):
        raise PolicyInvalid("date_tags", "must be a list of tables ([[date_tags]])")
    tags = [_date_tag(item, f"date_tags[{index}]") for index, item in enumerate(raw)]
    for index, tag in enumerate(tags):
        for earlier_index, earlier in enumerate(tags[:index]):
            _check_overlap(earlier, earlier_index, tag, index)
    return tuple(tags)


def _date_tag(raw: Any, path: str) -> DateTag:
    table = _Table(raw, path, ("name", "from", "to", "monthly_day", "precedence"))
    name = _text(table.get("name"), table.at("name"))
    precedence = table.get("precedence", None)
    if precedence is not None:
        precedence = _int(precedence, table.at("precedence"), 0)
    if "monthly_day" in table.data:
        if "from" in table.data or "to" in table.data:
            raise PolicyInvalid(path, "give either from/to or monthly_day, not both")
        day = _int(table.get("monthly_day"), table.at("monthly_day"), 1)
        if day > 31:
            raise PolicyInvalid(table.at("monthly_day"), "must be a day of the month, 1 to 31")
        return DateTag(name=name, monthly_day=day, precedence=precedence)
    start = _date(table.get("from"), table.at("from"))
    end = _date(table.get("to"), table.at("to"))
    if end < start:
        raise PolicyInvalid(table.at("to"), f"must not be before from ({start.isoformat()})")
    return DateTag(name=name, start=start, end=end, precedence=precedence)


def _check_overlap(earlier: DateTag, earlier_index: int, tag: DateTag, index: int) -> None:
    if not (earlier.is_range and tag.is_range) or earlier.name == tag.name:
        return
    if tag.start > earlier.end or earlier.start > tag.end:  # type: ignore[operator]
        return
    if tag.precedence is None or earlier.precedence is None or tag.precedence == earlier.precedence:
        raise PolicyInvalid(
            f"date_tags[{index}].precedence",
            f"{tag.name} overlaps date_tags[{earlier_index}] ({earlier.name}); "
            "both need a precedence and the two must differ",
        )


def decimal_text(number: Decimal) -> str:
    """Write a Decimal in its shortest plain form: 1.50 -> "1.5", 1E+1 -> "10"."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def canonical_dict(policy: Any) -> dict[str, Any]:
    """The policy as plain data with every default filled; `validate` accepts it back."""
    def rates(mapping: dict[str, Decimal]) -> dict[str, str]:
        return {key: decimal_text(value) for key, value in sorted(mapping.items())}

    caps = {field.name: getattr(policy.caps, field.name) for field in fields(policy.caps)
            if getattr(policy.caps, field.name) is not None}
    expiry: dict[str, Any] = {"rule": policy.expiry_rule}
    if policy.expiry_months is not None:
        expiry["months"] = policy.expiry_months
    return {
        "policy": {"name": policy.name, "description": policy.description},
        "points": {"per_hour": decimal_text(policy.points_per_hour), "rounding": policy.rounding,
                   "funding": policy.funding},
        "multipliers": {"stack": policy.stack, "tag": rates(policy.tag_multipliers),
                        "rating": rates(policy.rating_multipliers),
                        "category": rates(policy.category_multipliers)},
        "service": {"categories": list(policy.categories),
                    **({} if policy.activity_tags is None else {"tags": list(policy.activity_tags)}),
                    "no_points_kinds": sorted(policy.no_points_kinds),
                    "no_hours_kinds": sorted(policy.no_hours_kinds)},
        "caps": caps,
        "complaints": {"upheld": policy.complaint_upheld,
                       **({} if policy.complaint_deduct_points is None else
                          {"deduct_points": policy.complaint_deduct_points})},
        "expiry": expiry,
        "stars": {"basis": policy.star_basis, "levels": [
            {"hours": rule.minutes // 60, "min_months_registered": rule.min_months_registered,
             "requires_review": rule.requires_review,
             **{key: getattr(rule, key) for key in ("served_each_of_last_months", "no_upheld_complaint_months")
                if getattr(rule, key)}} for rule in policy.star_levels]},
        "date_tags": [_date_tag_dict(tag) for tag in policy.date_tags],
    }


def _date_tag_dict(tag: DateTag) -> dict[str, Any]:
    body: dict[str, Any] = {"name": tag.name}
    if tag.is_range:
        body["from"], body["to"] = tag.start.isoformat(), tag.end.isoformat()  # type: ignore[union-attr]
    else:
        body["monthly_day"] = tag.monthly_day
    if tag.precedence is not None:
        body["precedence"] = tag.precedence
    return body

