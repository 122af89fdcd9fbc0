"""A new policy version from a form of its common fields (常用项), as a TOML document.

The form starts from a policy (the one in force) and changes only what people usually
change: name and description, points per hour and rounding, the caps in hours, point expiry
and the star thresholds; everything else (multipliers, categories, date tags) is kept.  The
result is TOML text that goes through the same validation and publication as a document
typed by hand; a refusal names the form's field.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ledger.errors import LedgerError, PolicyInvalid, ValidationFailed
from ledger.incentives.document import decimal_text
from ledger.incentives.policy import Policy

CAP_FIELDS = {"per_activity_hours": "per_activity_minutes", "per_day_hours": "per_day_minutes",
              "per_year_hours": "per_year_minutes"}
FIELDS = ("name", "description", "per_hour", "rounding", *CAP_FIELDS, "expiry_rule", "expiry_months", "star_hours")
# where a document path's error is shown on the form
PATH_FIELDS = (("policy.name", "name"), ("policy.description", "description"), ("points.per_hour", "per_hour"),
               ("points.rounding", "rounding"), ("caps.per_activity_minutes", "per_activity_hours"),
               ("caps.per_day_minutes", "per_day_hours"), ("caps.per_year_minutes", "per_year_hours"),
               ("expiry.months", "expiry_months"), ("expiry", "expiry_rule"), ("stars", "star_hours"))
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def form_values(policy: Policy) -> dict[str, str]:
    """The form's fields filled from a policy (hours as people write them)."""
    values = {"name": policy.name, "description": policy.description,
              "per_hour": decimal_text(policy.points_per_hour), "rounding": policy.rounding,
              "expiry_rule": policy.expiry_rule,
              "expiry_months": str(policy.expiry_months) if policy.expiry_months else "",
              "star_hours": "、".join(decimal_text(Decimal(rule.minutes) / 60) for rule in policy.star_levels)}
    for form_field, cap in CAP_FIELDS.items():
        minutes = getattr(policy.caps, cap)
        values[form_field] = "" if minutes is None else decimal_text(Decimal(minutes) / 60)
    return values


def document_from_form(base: Policy, values: dict[str, str]) -> str:
    """TOML text of `base` with the form's values; refused with the form field and a Chinese reason."""
    if not values.get("name", "").strip():
        raise ValidationFailed("请填写办法名称", field="name")
    data = base.to_dict()
    data["policy"] = {"name": values.get("name", "").strip(), "description": values.get("description", "").strip()}
    data["points"]["per_hour"] = _number(values.get("per_hour", ""), "per_hour", "每小时积分")
    data["points"]["rounding"] = values.get("rounding", "").strip()
    data["caps"] = {cap: _minutes(values.get(form_field, ""), form_field)
                    for form_field, cap in CAP_FIELDS.items() if values.get(form_field, "").strip()}
    data["expiry"] = {"rule": values.get("expiry_rule", "").strip()}
    if data["expiry"]["rule"] == "months":
        data["expiry"]["months"] = _whole(values.get("expiry_months", ""), "expiry_months")
    data["stars"]["levels"] = _levels(base, values.get("star_hours", ""))
    text = to_toml(data)
    try:
        Policy.parse(text)
    except LedgerError as error:
        raise _on_form(error) from None
    return text


def _on_form(error: LedgerError) -> LedgerError:
    """The same error, named by the form field that holds the document path."""
    path = error.field or ""
    for prefix, form_field in PATH_FIELDS:
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            error.field = form_field
            break
    return error


def _number(text: str, field: str, label: str) -> str:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationFailed(f"{label}应为数字，如 10 或 12.5", field=field) from None
    if not number.is_finite() or number < 0:
        raise ValidationFailed(f"{label}应为不小于 0 的数字", field=field)
    return decimal_text(number)


def _minutes(text: str, field: str) -> int:
    """Hours as written (8, 7.5) to whole minutes; refused when not a positive whole number of minutes."""
    hours = Decimal(_number(text, field, "小时数"))
    minutes = hours * 60
    if minutes <= 0 or minutes != minutes.to_integral_value():
        raise ValidationFailed("小时数应大于 0，且折合为整分钟（如 7.5 小时）", field=field)
    return int(minutes)


def _whole(text: str, field: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValidationFailed("应为正整数", field=field)
    return int(text)


def _levels(base: Policy, text: str) -> list[dict[str, Any]]:
    """Star thresholds from "100、300、600" (commas or spaces too), each level's other rules kept."""
    parts = [part for part in re.split(r"[、,，\s]+", text.strip()) if part]
    if not parts:
        raise ValidationFailed("请填写各星级的小时数，如 100、300、600、1000、1500", field="star_hours")
    levels = []
    for index, part in enumerate(parts):
        if not part.isdigit() or int(part) < 1:
            raise ValidationFailed(f"第 {index + 1} 个星级的小时数应为正整数，不是 {part!r}", field="star_hours")
        if levels and int(part) <= levels[-1]["hours"]:
            raise ValidationFailed(f"第 {index + 1} 个星级的小时数应大于上一级", field="star_hours")
        kept = base.star_levels[index] if index < len(base.star_levels) else None
        levels.append({"hours": int(part), "min_months_registered": kept.min_months_registered if kept else 0,
                       "requires_review": kept.requires_review if kept else False})
    return levels


def to_toml(data: dict[str, Any]) -> str:
    """Plain data (tables, arrays of tables, strings, numbers, booleans, lists) as TOML text."""
    lines: list[str] = []
    _table(lines, [], data)
    return "\n".join(lines).strip() + "\n"


def _table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            lines += ["", f"[{'.'.join(_key(k) for k in path + [key])}]"]
            _table(lines, path + [key], value)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{'.'.join(_key(k) for k in path + [key])}]]"]
                _table(lines, path + [key], item)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(str(key)) else json.dumps(str(key), ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if value is None:
        raise PolicyInvalid("document", "a TOML document has no empty values")
    return json.dumps(str(value), ensure_ascii=False)
