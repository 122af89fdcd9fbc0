"""Ranking definitions (评选办法): periods, validation, versions.

A definition is a JSON document checked field by field (an unknown metric or a negative
quota names the exact field); storing a changed document under the same code makes a new
version, an unchanged one returns the stored version.  Definitions are append-only.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import NotFound, ValidationFailed
from ledger.people.access import Principal, in_scope, require_role, require_unit, unit_path
from ledger.people.tables import Unit
from ledger.rankings.tables import RankingDefinition
from ledger.store.tables import AuditEntry

METRICS = ("hours", "points", "activities", "rating")
METRIC_NAMES = {"hours": "时长", "points": "积分", "activities": "活动次数", "rating": "评单平均分"}
SUBJECTS = ("volunteer", "team")
PERIOD_KINDS = ("month", "quarter", "year")
TIE_BREAKS = METRICS + ("earlier_registration", "number", "id")
QUOTA_PER = ("overall", "unit")
TEAM_ATTRIBUTION = ("activity", "membership")
ELIGIBILITY_KEYS = ("min_hours", "min_hours_basis", "min_star_level", "no_reversed_records",
                    "active_membership")
DOCUMENT_KEYS = ("code", "name", "unit_id", "period_kind", "subject", "metrics", "eligibility", "quota",
                 "tie_break", "team_attribution")
REASONS = {"lacks_hours": "时长不足", "lacks_star": "星级不足", "has_reversed_record": "有被冲正的记录",
           "lacks_membership": "期末无有效隶属关系"}


# --- periods -------------------------------------------------------------------------------

def period_bounds(kind: str, period: str) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of a period: "2026", "2026-Q3" or "2026-07"."""
    patterns = {"year": r"(\d{4})", "quarter": r"(\d{4})-Q([1-4])", "month": r"(\d{4})-(0[1-9]|1[0-2])"}
    if kind not in patterns:
        raise ValidationFailed(f"period kind must be one of {', '.join(PERIOD_KINDS)}", field="period_kind")
    match = re.fullmatch(patterns[kind], period or "")
    if not match:
        examples = {"year": "2026", "quarter": "2026-Q3", "month": "2026-07"}
        raise ValidationFailed(f"a {kind} period is written like {examples[kind]}, not {period!r}",
                               field="period")
    year = int(match.group(1))
    if kind == "year":
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    first_month = (int(match.group(2)) - 1) * 3 + 1 if kind == "quarter" else int(match.group(2))
    months = 3 if kind == "quarter" else 1
    start = dt.date(year, first_month, 1)
    after = dt.date(year + (first_month + months - 1) // 12, (first_month + months - 1) % 12 + 1, 1)
    return start, after - dt.timedelta(days=1)


def previous_period(kind: str, today: dt.date) -> str:
    """The newest period of `kind` that has ended before `today`."""
    if kind == "year":
        return str(today.year - 1)
    if kind == "quarter":
        quarter = (today.month - 1) // 3  # the current quarter minus one, 0 = last year's Q4
        return f"{today.year}-Q{quarter}" if quarter else f"{today.year - 1}-Q4"
    return f"{today.year}-{today.month - 1:02d}" if today.month > 1 else f"{today.year - 1}-12"


def require_ended(kind: str, period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The bounds of a period that has ended; a period still running or in the future is refused."""
    start, end = period_bounds(kind, period)
    if end >= today:
        raise ValidationFailed(f"period {period} has not ended yet (it ends {end.isoformat()}); "
                               "a ranking is made of a finished period", field="period")
    return start, end


# --- definitions ---------------------------------------------------------------------------

def _minutes_of_hours(value, field: str) -> int:
    try:
        hours = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"{value!r} is not a number of hours", field=field) from None
    if isinstance(value, bool) or not hours.is_finite() or hours < 0:
        raise ValidationFailed("hours must be a number, zero or more", field=field)
    minutes = hours * 60
    if minutes != minutes.to_integral_value():
        raise ValidationFailed("hours must be a whole number of minutes", field=field)
    return int(minutes)


def _whole(value, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed("must be a whole number", field=field)
    if value < minimum:
        raise ValidationFailed(f"must be {minimum} or more, not {value}", field=field)
    return value


def _choice(value, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise ValidationFailed(f"unknown value {value!r}; expected one of {', '.join(allowed)}", field=field)
    return value


def _share(value, field: str) -> str:
    text = str(value).strip()
    try:
        share = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise ValidationFailed(f"{value!r} is not a share (e.g. \"0.1\" or \"10%\")", field=field) from None
    if isinstance(value, bool) or not share.is_finite() or share <= 0 or share > 1:
        raise ValidationFailed("a share is more than 0 and at most 1 (e.g. \"0.1\" or \"10%\")", field=field)
    return str(share.normalize())


def _quota(raw) -> dict:
    if not isinstance(raw, dict):
        raise ValidationFailed("quota is a table with top_n or top_share", field="quota")
    unknown = set(raw) - {"top_n", "top_share", "per"}
    if unknown:
        raise ValidationFailed(f"unknown quota key {sorted(unknown)[0]!r}", field=f"quota.{sorted(unknown)[0]}")
    if ("top_n" in raw) == ("top_share" in raw):
        raise ValidationFailed("give exactly one of top_n or top_share", field="quota")
    quota = {"per": _choice(raw.get("per", "overall"), QUOTA_PER, "quota.per")}
    if "top_n" in raw:
        quota["top_n"] = _whole(raw["top_n"], "quota.top_n")
    else:
        quota["top_share"] = _share(raw["top_share"], "quota.top_share")
    return quota


def _eligibility(raw) -> dict:
    if not isinstance(raw, dict):
        raise ValidationFailed("eligibility is a table of rules", field="eligibility")
    for key in raw:
        _choice(key, ELIGIBILITY_KEYS, f"eligibility.{key}")
    rules = {"min_minutes": _minutes_of_hours(raw.get("min_hours", 0), "eligibility.min_hours"),
             "min_hours_basis": _choice(raw.get("min_hours_basis", "period"), ("period", "year"),
                                        "eligibility.min_hours_basis"),
             "min_star_level": _whole(raw.get("min_star_level", 0), "eligibility.min_star_level"),
             "no_reversed_records": raw.get("no_reversed_records", False),
             "active_membership": raw.get("active_membership", False)}
    if rules["min_star_level"] > 5:
        raise ValidationFailed("star levels go from 0 to 5", field="eligibility.min_star_level")
    for key in ("no_reversed_records", "active_membership"):
        if not isinstance(rules[key], bool):
            raise ValidationFailed("must be true or false", field=f"eligibility.{key}")
    return rules


def _names(raw, allowed: tuple[str, ...], field: str, *, required: bool) -> list[str]:
    if not isinstance(raw, list) or (required and not raw):
        raise ValidationFailed("a non-empty list" if required else "a list", field=field)
    names = [_choice(name, allowed, f"{field}[{index}]") for index, name in enumerate(raw)]
    if len(set(names)) != len(names):
        raise ValidationFailed("a name appears twice", field=field)
    return names


def validate_definition(raw: dict) -> dict:
    """Check a definition document; returns it normalised, or raises with the exact field."""
    if not isinstance(raw, dict):
        raise ValidationFailed("a definition is a JSON object", field="definition")
    for key in raw:
        _choice(key, DOCUMENT_KEYS, key)
    code = raw.get("code")
    if not isinstance(code, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,60}", code):
        raise ValidationFailed("code is 1-60 letters, digits or _ . : -", field="code")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("name (评选名称) must not be empty", field="name")
    subject = _choice(raw.get("subject", "volunteer"), SUBJECTS, "subject")
    doc = {"code": code, "name": name.strip(), "unit_id": _whole(raw.get("unit_id"), "unit_id", 1),
           "period_kind": _choice(raw.get("period_kind"), PERIOD_KINDS, "period_kind"), "subject": subject,
           "metrics": _names(raw.get("metrics", ["hours"]), METRICS, "metrics", required=True),
           "eligibility": _eligibility(raw.get("eligibility", {})),
           "quota": _quota(raw.get("quota", {"top_n": 10})),
           "tie_break": _names(raw.get("tie_break", ["id"]), TIE_BREAKS, "tie_break", required=False),
           "team_attribution": _choice(raw.get("team_attribution", "activity"), TEAM_ATTRIBUTION,
                                       "team_attribution")}
    if subject == "team":
        if "earlier_registration" in doc["tie_break"]:
            raise ValidationFailed("teams have no registration date", field="tie_break")
        if doc["eligibility"]["min_star_level"] or doc["eligibility"]["active_membership"]:
            raise ValidationFailed("star level and membership rules apply to volunteers only",
                                   field="eligibility")
    return doc


def _hash(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def definition_public(definition: RankingDefinition) -> dict:
    """A definition version as shown to clients."""
    return {"id": definition.id, "code": definition.code, "version": definition.version,
            "name": definition.name, "unit_id": definition.unit_id, "period_kind": definition.period_kind,
            "subject": definition.subject, "document": definition.document,
            "content_hash": definition.content_hash, "created_by": definition.created_by,
            "created_at": definition.created_at.isoformat() if definition.created_at else None}


def latest_definition(session: Session, code: str) -> RankingDefinition | None:
    """The newest version of the definition with this code."""
    return session.execute(select(RankingDefinition).where(RankingDefinition.code == code)
                           .order_by(RankingDefinition.version.desc()).limit(1)).scalar_one_or_none()


def define_ranking(session: Session, principal: Principal, raw: dict) -> dict:
    """Store a definition; a changed document becomes a new version, an unchanged one is returned."""
    require_role(principal, "admin", "unit_admin")
    doc = validate_definition(raw)
    require_unit(session, principal, doc["unit_id"])
    digest = _hash(doc)
    current = latest_definition(session, doc["code"])
    if current is not None:
        if not in_scope(principal, unit_path(session, current.unit_id) or ""):
            raise NotFound(f"ranking definition {doc['code']!r} not found", field="code")
        if current.content_hash == digest:
            return definition_public(current)
    definition = RankingDefinition(code=doc["code"], version=(current.version + 1) if current else 1,
                                   name=doc["name"], unit_id=doc["unit_id"], period_kind=doc["period_kind"],
                                   subject=doc["subject"], document=doc, content_hash=digest,
                                   created_by=principal.username)
    session.add(definition)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="ranking.define",
                           target=f"ranking_definition:{definition.id}",
                           detail={"code": definition.code, "version": definition.version}))
    return definition_public(definition)


def require_definition(session: Session, principal: Principal, definition_id: int) -> RankingDefinition:
    """A definition version whose unit lies in the principal's scope."""
    require_role(principal, "admin", "unit_admin", "auditor")
    definition = session.get(RankingDefinition, definition_id)
    if definition is None or not in_scope(principal, unit_path(session, definition.unit_id) or ""):
        raise NotFound(f"ranking definition {definition_id} not found", field="definition_id")
    return definition


def list_definitions(session: Session, principal: Principal, unit_id: int | None = None) -> list[dict]:
    """Every version of every definition in scope, newest first."""
    require_role(principal, "admin", "unit_admin", "auditor")
    query = select(RankingDefinition, Unit.path).join(Unit, Unit.id == RankingDefinition.unit_id)
    if unit_id is not None:
        query = query.where(Unit.path.startswith(require_unit(session, principal, unit_id).path))
    rows = session.execute(query.order_by(RankingDefinition.code, RankingDefinition.version.desc())).all()
    return [definition_public(d) for d, path in rows if in_scope(principal, path)]
