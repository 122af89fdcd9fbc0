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
from ledger.names import clean_name
from ledger.people.access import Principal, in_scope, require_in_scope, require_role, require_unit, unit_path
from ledger.people.tables import Unit
from ledger.rankings.tables import RankingDefinition
from ledger.store.tables import AuditEntry

METRICS = ("hours", "points", "activities", "rating")
METRIC_NAMES = {"hours": "时长", "points": "积分", "activities": "活动次数", "rating": "评单平均分"}
SUBJECTS = ("volunteer", "team")
PERIOD_KINDS = ("month", "quarter", "year")
# tie-break keys (并列处理) besides the metrics, and the order each takes unless the definition says
DATE_KEYS = {"threshold_reached": "asc", "last_service": "desc", "earlier_registration": "asc"}
TIE_BREAKS = METRICS + tuple(DATE_KEYS) + ("number", "id")
TIE_BREAK_NAMES = {**METRIC_NAMES, "threshold_reached": "达到资格条件的日期", "last_service": "最后一次服务日期",
                   "earlier_registration": "注册日期", "number": "编号", "id": "ID"}
ORDERS = ("asc", "desc")
QUOTA_PER = ("overall", "unit")
TEAM_ATTRIBUTION = ("activity", "membership")
ELIGIBILITY_KEYS = ("min_hours", "min_points", "min_hours_basis", "min_star_level", "min_activities",
                    "no_reversed_records", "no_upheld_complaint", "min_registration_months", "active_membership")
# rules added after the first definitions were stored: kept out of the normalised document while
# they have their default, so that an unchanged older document keeps its content hash (version)
NEW_RULE_DEFAULTS = {"min_points": 0, "min_activities": 0, "no_upheld_complaint": False,
                     "min_registration_months": 0}
VOLUNTEER_ONLY_RULES = ("min_star_level", "active_membership", "min_registration_months")
DOCUMENT_KEYS = ("code", "name", "unit_id", "period_kind", "subject", "metrics", "eligibility", "quota",
                 "tie_break", "team_attribution", "notice_days")
DEFAULT_NOTICE_DAYS = 7  # 公示 days when a definition does not say
REASONS = {"lacks_hours": "时长不足", "lacks_points": "积分不足", "lacks_star": "星级不足",
           "lacks_activities": "活动次数不足", "has_reversed_record": "有被冲正的记录",
           "has_upheld_complaint": "期间内有成立的投诉", "lacks_registration": "注册时间不足",
           "lacks_membership": "截至日无有效隶属关系"}


# --- periods -------------------------------------------------------------------------------

MIN_YEAR, MAX_YEAR = 1949, 2999  # a period outside these years is a typing error, not a period

def period_bounds(kind: str, period: str) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of a period: "2026", "2026-Q3" or "2026-07"."""
    patterns = {"year": r"(\d{4})", "quarter": r"(\d{4})-Q([1-4])", "month": r"(\d{4})-(0[1-9]|1[0-2])"}
    if kind not in patterns:
        raise ValidationFailed(f"period kind must be one of {', '.join(PERIOD_KINDS)}", field="period_kind")
    match = re.fullmatch(patterns[kind], period or "")
    if not match:
        examples = {"year": "2026", "quarter": "2026-Q3", "month": "2026-07"}
        raise ValidationFailed(f"期间格式应如 {examples[kind]} (a {kind} period is written like {examples[kind]}, "
                               f"not {period!r})", field="period")
    year = int(match.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed(f"期间的年份应在 {MIN_YEAR} 至 {MAX_YEAR} 之间 "
                               f"(the period's year must lie between {MIN_YEAR} and {MAX_YEAR})", field="period")
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


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months, clamped to the month's last day (3-31 minus 1 month = 2-28)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    after = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return dt.date(year, month + 1, min(day.day, (after - dt.timedelta(days=1)).day))


def require_cutoff(kind: str, period: str, cutoff, today: dt.date) -> tuple[dt.date, dt.date, dt.date | None]:
    """(start, end, cut-off) of a run "as of" a cut-off date (截至日期) inside the period.

    The cut-off lies inside the period and not after today; the period itself may still be
    running.  Anything else is refused naming the field `as_of`.  A cut-off on the last day of a
    finished period is no cut-off (None): the run is the period's own."""
    start, end = period_bounds(kind, period)
    if isinstance(cutoff, str):
        try:
            cutoff = dt.date.fromisoformat(cutoff)
        except ValueError:
            raise ValidationFailed(f"截至日期应写作 2026-12-10，而不是 {cutoff!r}", field="as_of") from None
    if not isinstance(cutoff, dt.date) or isinstance(cutoff, dt.datetime):
        raise ValidationFailed("截至日期应为日期（如 2026-12-10）", field="as_of")
    if not start <= cutoff <= end:
        raise ValidationFailed(f"截至日期 {cutoff.isoformat()} 不在期间 {period}（{start.isoformat()} 至 "
                               f"{end.isoformat()}）之内", field="as_of")
    if cutoff > today:
        raise ValidationFailed(f"截至日期 {cutoff.isoformat()} 晚于今天（{today.isoformat()}）", field="as_of")
    if cutoff == end and end < today:
        return start, end, None  # the whole of a finished period: a final run, not a cut-off one
    return start, end, cutoff


# --- definitions ---------------------------------------------------------------------------

def _minutes_of_hours(value, field: str) -> int:
    try:
        hours = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"{value!r} 不是小时数", field=field) from None
    if isinstance(value, bool) or not hours.is_finite() or hours < 0:
        raise ValidationFailed("小时数应为不小于 0 的数", field=field)
    minutes = hours * 60
    if minutes != minutes.to_integral_value():
        raise ValidationFailed("小时数应折合为整分钟", field=field)
    return int(minutes)


def _whole(value, field: str, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed("应为整数", field=field)
    if value < minimum:
        raise ValidationFailed(f"应不小于 {minimum}，而不是 {value}", field=field)
    if maximum is not None and value > maximum:
        raise ValidationFailed(f"应不大于 {maximum}，而不是 {value}", field=field)
    return value


def _choice(value, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise ValidationFailed(f"未知的取值 {value!r}；可选：{'、'.join(allowed)}", field=field)
    return value


def _flag(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed("应为 true 或 false", field=field)
    return value


def _share(value, field: str) -> str:
    text = str(value).strip()
    try:
        share = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise ValidationFailed(f"{value!r} 不是比例（如 \"0.1\" 或 \"10%\"）", field=field) from None
    if isinstance(value, bool) or not share.is_finite() or share <= 0 or share > 1:
        raise ValidationFailed("比例应大于 0、不超过 1（如 \"0.1\" 或 \"10%\"）", field=field)
    return str(share.normalize())


def _quota(raw) -> dict:
    if not isinstance(raw, dict):
        raise ValidationFailed("名额应为含 top_n 或 top_share 的对象", field="quota")
    unknown = set(raw) - {"top_n", "top_share", "per"}
    if unknown:
        raise ValidationFailed(f"未知的名额项 {sorted(unknown)[0]!r}", field=f"quota.{sorted(unknown)[0]}")
    if ("top_n" in raw) == ("top_share" in raw):
        raise ValidationFailed("top_n 与 top_share 须给出且只给出一个", field="quota")
    quota = {"per": _choice(raw.get("per", "overall"), QUOTA_PER, "quota.per")}
    if "top_n" in raw:
        quota["top_n"] = _whole(raw["top_n"], "quota.top_n")
    else:
        quota["top_share"] = _share(raw["top_share"], "quota.top_share")
    return quota


def _eligibility(raw) -> dict:
    """The eligibility rules (资格条件), normalised; new rules only when not at their default."""
    if not isinstance(raw, dict):
        raise ValidationFailed("资格条件应为对象", field="eligibility")
    for key in raw:
        _choice(key, ELIGIBILITY_KEYS, f"eligibility.{key}")
    path = "eligibility."
    rules = {"min_minutes": _minutes_of_hours(raw.get("min_hours", 0), path + "min_hours"),
             "min_hours_basis": _choice(raw.get("min_hours_basis", "period"), ("period", "year"),
                                        path + "min_hours_basis"),
             "min_star_level": _whole(raw.get("min_star_level", 0), path + "min_star_level", 0, 5),
             "no_reversed_records": _flag(raw.get("no_reversed_records", False), path + "no_reversed_records"),
             "active_membership": _flag(raw.get("active_membership", False), path + "active_membership")}
    added = {"min_points": _whole(raw.get("min_points", 0), path + "min_points"),
             "min_activities": _whole(raw.get("min_activities", 0), path + "min_activities"),
             "no_upheld_complaint": _flag(raw.get("no_upheld_complaint", False), path + "no_upheld_complaint"),
             "min_registration_months": _whole(raw.get("min_registration_months", 0),
                                               path + "min_registration_months", 0, 600)}
    rules.update({key: value for key, value in added.items() if value != NEW_RULE_DEFAULTS[key]})
    return rules


def rule(rules: dict, key: str):
    """An eligibility rule of a normalised document, with its default when it is not written."""
    return rules.get(key, NEW_RULE_DEFAULTS.get(key))


def _names(raw, allowed: tuple[str, ...], field: str, *, required: bool) -> list[str]:
    if not isinstance(raw, list) or (required and not raw):
        raise ValidationFailed("应为非空列表" if required else "应为列表", field=field)
    names = [_choice(name, allowed, f"{field}[{index}]") for index, name in enumerate(raw)]
    if len(set(names)) != len(names):
        raise ValidationFailed("同一名称出现了两次", field=field)
    return names


def _tie_break(raw) -> list:
    """Tie-break keys (并列处理) in order: "name", or {"by": name, "order": "asc"|"desc"}.

    Normalised to the plain name when the order is the key's own (metrics: more first;
    threshold_reached and earlier_registration: earlier first; last_service: later first)."""
    if not isinstance(raw, list):
        raise ValidationFailed("并列处理应为列表", field="tie_break")
    keys, seen = [], set()
    for index, item in enumerate(raw):
        path = f"tie_break[{index}]"
        if isinstance(item, dict):
            for key in item:
                _choice(key, ("by", "order"), f"{path}.{key}")
            name = _choice(item.get("by"), TIE_BREAKS, f"{path}.by")
            order = _choice(item.get("order", default_order(name)), ORDERS, f"{path}.order")
        else:
            name = _choice(item, TIE_BREAKS, path)
            order = default_order(name)
        if name in seen:
            raise ValidationFailed(f"{name} 在并列处理中出现了两次", field=path)
        seen.add(name)
        keys.append(name if order == default_order(name) else {"by": name, "order": order})
    return keys


def default_order(name: str) -> str:
    """The order a tie-break key takes unless the definition says: metrics more first."""
    return DATE_KEYS.get(name, "asc" if name in ("number", "id") else "desc")


def tie_break_keys(doc: dict) -> list[tuple[str, str]]:
    """(name, order) of each tie-break key of a normalised document."""
    return [(item, default_order(item)) if isinstance(item, str) else (item["by"], item["order"])
            for item in doc["tie_break"]]


def _contradictions(doc: dict) -> None:
    """Refuse a definition that asks for something its other rules make impossible."""
    rules = doc["eligibility"]
    keys = [name for name, _ in tie_break_keys(doc)]
    if "threshold_reached" in keys and not (rules["min_minutes"] or rule(rules, "min_points")):
        raise ValidationFailed("按达到资格条件的日期排序，须设最低时长（min_hours）或最低积分（min_points）",
                               field=f"tie_break[{keys.index('threshold_reached')}]")
    if doc["subject"] != "team":
        return
    if "earlier_registration" in keys:
        raise ValidationFailed("队伍没有注册日期，不能按注册日期排序",
                               field=f"tie_break[{keys.index('earlier_registration')}]")
    for key in VOLUNTEER_ONLY_RULES:
        if rule(rules, key):
            raise ValidationFailed("星级、注册时长和隶属关系条件只适用于志愿者评选", field=f"eligibility.{key}")


def validate_definition(raw: dict) -> dict:
    """Check a definition document; returns it normalised, or raises with the exact field."""
    if not isinstance(raw, dict):
        raise ValidationFailed("评选办法应为 JSON 对象", field="definition")
    for key in raw:
        _choice(key, DOCUMENT_KEYS, key)
    code = raw.get("code")
    if not isinstance(code, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,60}", code):
        raise ValidationFailed("编码为 1-60 个字母、数字或 _ . : -", field="code")
    name = clean_name(raw.get("name"), "name", max_length=200, label="评选名称")
    doc = {"code": code, "name": name, "unit_id": _whole(raw.get("unit_id"), "unit_id", 1),
           "period_kind": _choice(raw.get("period_kind"), PERIOD_KINDS, "period_kind"),
           "subject": _choice(raw.get("subject", "volunteer"), SUBJECTS, "subject"),
           "metrics": _names(raw.get("metrics", ["hours"]), METRICS, "metrics", required=True),
           "eligibility": _eligibility(raw.get("eligibility", {})),
           "quota": _quota(raw.get("quota", {"top_n": 10})),
           "tie_break": _tie_break(raw.get("tie_break", ["id"])),
           "team_attribution": _choice(raw.get("team_attribution", "activity"), TEAM_ATTRIBUTION,
                                       "team_attribution")}
    notice_days = _whole(raw.get("notice_days", DEFAULT_NOTICE_DAYS), "notice_days", 1, 60)
    if notice_days != DEFAULT_NOTICE_DAYS:
        doc["notice_days"] = notice_days
    _contradictions(doc)
    return doc


def notice_days(doc: dict) -> int:
    """The days of public notice (公示) a definition asks for."""
    return doc.get("notice_days", DEFAULT_NOTICE_DAYS)


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
    path = unit_path(session, definition.unit_id) if definition is not None else None
    require_in_scope(principal, path, "评选方案", definition_id, "definition_id")
    return definition


def list_definitions(session: Session, principal: Principal, unit_id: int | None = None) -> list[dict]:
    """Every version of every definition in scope, newest first."""
    require_role(principal, "admin", "unit_admin", "auditor")
    query = select(RankingDefinition, Unit.path).join(Unit, Unit.id == RankingDefinition.unit_id)
    if unit_id is not None:
        query = query.where(Unit.path.startswith(require_unit(session, principal, unit_id).path))
    rows = session.execute(query.order_by(RankingDefinition.code, RankingDefinition.version.desc())).all()
    return [definition_public(d) for d, path in rows if in_scope(principal, path)]
