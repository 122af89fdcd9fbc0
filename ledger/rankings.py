"""Commendation rankings (评先评优): versioned definitions, reproducible runs, publication.

A definition (评选办法) says, for a unit subtree and a period kind (month, quarter, year),
what is ranked (volunteers or teams), by which metrics in which order (hours, points,
activities, average 评单 rating), who is eligible, how many are shortlisted (top N or top
share, overall or per unit) and how ties are broken.  Changing it makes a new version.

A run reads the ledger up to a recorded position (transactions.id <= position) and ranks the
period in the database (aggregation and window functions, see `ledger.ranking_sql`); its
entries are written by INSERT ... SELECT, so nothing proportional to the number of
volunteers passes through Python.  A run is an immutable snapshot: re-computing it at the
same position gives the same entries (`reproduce`).  A run is published (the official list)
or superseded by a later run of the same definition and period, with a reason.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.access import Principal, in_scope, require_role, require_unit, unit_path
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.postings import ledger_position
from ledger.tables import AuditEntry, StarEvent, Unit
from ledger.tables.rankings import RankingDecision, RankingDefinition, RankingEntry, RankingRun

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


# --- runs ----------------------------------------------------------------------------------

def _star_position(session: Session, position: int, is_current: bool) -> int:
    """The newest star event a run at `position` may see."""
    query = select(func.coalesce(func.max(StarEvent.id), 0))
    if not is_current:
        query = query.where(StarEvent.transaction_id <= position)
    return int(session.execute(query).scalar_one())


def run_ranking(session: Session, principal: Principal, definition_id: int, period: str, today: dt.date,
                *, position: int | None = None, trigger: str = "on_demand") -> dict:
    """Rank a finished period at a ledger position (default: now) and store the snapshot.

    The same definition version, period and position always give the same snapshot, so
    asking again returns the stored run.  A scheduled run is unique per definition and period.
    """
    from ledger import ranking_sql

    require_role(principal, "admin", "unit_admin")
    definition = require_definition(session, principal, definition_id)
    start, end = require_ended(definition.period_kind, period, today)
    current = ledger_position(session)
    if position is None:
        position = current
    elif isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= current:
        raise ValidationFailed(f"position must be a transaction id from 0 to {current}", field="position")
    key = (f"scheduled:{definition.id}:{period}" if trigger == "scheduled"
           else f"run:{definition.id}:{period}:{position}")
    existing = session.execute(select(RankingRun).where(RankingRun.run_key == key)).scalar_one_or_none()
    if existing is not None:
        return run_public(session, existing)
    run = RankingRun(run_key=key, definition_id=definition.id, definition_code=definition.code, period=period,
                     period_start=start, period_end=end, ledger_position=position,
                     star_position=_star_position(session, position, position == current), trigger=trigger,
                     candidates=0, eligible=0, shortlisted=0, entries_hash="", created_by=principal.username)
    session.add(run)
    session.flush()
    ranking_sql.insert_entries(session, definition.document, run)
    counts = ranking_sql.entry_counts(session, run.id)
    # the run row is sealed once, here: the database refuses any change after entries_hash is set
    run.candidates, run.eligible, run.shortlisted = counts
    run.entries_hash = entries_hash(session, run.id)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="ranking.run", target=f"ranking_run:{run.id}",
                           detail={"definition_id": definition.id, "period": period, "position": position}))
    return run_public(session, run)


ENTRY_FIGURES = ("subject_id", "subject_name", "subject_number", "group_unit_id", "minutes", "points",
                 "activities", "rating_sum", "rating_count", "tx_count", "year_minutes", "star_level",
                 "is_eligible", "lacks_hours", "lacks_star", "has_reversed_record", "lacks_membership",
                 "rank", "is_shortlisted")


def entries_hash(session: Session, run_id: int, rows=None) -> str:
    """SHA-256 over a run's entries in a fixed order (streamed, never all in memory)."""
    digest = hashlib.sha256()
    if rows is None:
        columns = [getattr(RankingEntry, name) for name in ENTRY_FIGURES]
        rows = session.execute(select(*columns).where(RankingEntry.run_id == run_id)
                               .order_by(RankingEntry.subject_id).execution_options(yield_per=5000))
    for row in rows:
        digest.update(json.dumps([_plain(v) for v in row], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _plain(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return int(value)


def run_status(session: Session, run_id: int) -> dict:
    """Whether a run is published and/or superseded (and by which run, why)."""
    decisions = session.execute(select(RankingDecision).where(RankingDecision.run_id == run_id)).scalars().all()
    status = {"is_published": False, "published_at": None, "superseded_by": None, "supersede_reason": None}
    for decision in decisions:
        if decision.action == "publish":
            status["is_published"], status["published_at"] = True, decision.at.isoformat()
        else:
            status["superseded_by"], status["supersede_reason"] = decision.by_run_id, decision.reason
    return status


def run_public(session: Session, run: RankingRun) -> dict:
    """A run as shown to clients (without its entries)."""
    return {"id": run.id, "definition_id": run.definition_id, "definition_code": run.definition_code,
            "period": run.period, "period_start": run.period_start.isoformat(),
            "period_end": run.period_end.isoformat(), "ledger_position": run.ledger_position,
            "star_position": run.star_position, "trigger": run.trigger, "candidates": run.candidates,
            "eligible": run.eligible, "shortlisted": run.shortlisted, "entries_hash": run.entries_hash,
            "created_by": run.created_by,
            "created_at": run.created_at.isoformat() if run.created_at else None, **run_status(session, run.id)}


def require_run(session: Session, principal: Principal, run_id: int) -> RankingRun:
    """A run whose definition lies in the principal's scope."""
    run = session.get(RankingRun, run_id)
    if run is None:
        raise NotFound(f"ranking run {run_id} not found", field="run_id")
    require_definition(session, principal, run.definition_id)
    return run


def hours_text(minutes: int) -> str:
    """Minutes as hours with up to two decimals (exact Decimal, no floats)."""
    if not minutes:
        return "0"
    return f"{(Decimal(minutes) / 60).quantize(Decimal('0.01')).normalize():f}"


def rating_text(rating_sum: int, rating_count: int) -> str | None:
    """The average 评单 rating to two decimals, or None without ratings."""
    if not rating_count:
        return None
    return str((Decimal(rating_sum) / rating_count).quantize(Decimal("0.01")))


def entry_public(entry) -> dict:
    """An entry with the figures behind its rank."""
    row = {name: _plain(getattr(entry, name)) for name in ENTRY_FIGURES}
    row["hours"] = hours_text(row["minutes"])
    row["year_hours"] = hours_text(row["year_minutes"])
    row["rating"] = rating_text(row["rating_sum"], row["rating_count"])
    row["reasons"] = [text for key, text in REASONS.items() if row[key]]
    return row


def run_entries(session: Session, principal: Principal, run_id: int, *, only_shortlisted: bool = False,
                limit: int | None = None, offset: int = 0) -> list[dict]:
    """A run's entries by group and rank (ineligible last)."""
    require_run(session, principal, run_id)
    query = select(RankingEntry).where(RankingEntry.run_id == run_id)
    if only_shortlisted:
        query = query.where(RankingEntry.is_shortlisted.is_(True))
    query = query.order_by(RankingEntry.group_unit_id, RankingEntry.is_eligible.desc(), RankingEntry.rank,
                           RankingEntry.minutes.desc(), RankingEntry.subject_id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [entry_public(e) for e in session.execute(query).scalars()]


def list_runs(session: Session, principal: Principal, definition_code: str | None = None,
              period: str | None = None) -> list[dict]:
    """Runs in scope, newest first."""
    require_role(principal, "admin", "unit_admin", "auditor")
    query = select(RankingRun).order_by(RankingRun.id.desc()).limit(500)
    if definition_code:
        query = query.where(RankingRun.definition_code == definition_code)
    if period:
        query = query.where(RankingRun.period == period)
    runs = []
    for run in session.execute(query).scalars():
        definition = session.get(RankingDefinition, run.definition_id)
        if principal.sees_everything or in_scope(principal, unit_path(session, definition.unit_id) or ""):
            runs.append(run_public(session, run))
    return runs


def reproduce(session: Session, principal: Principal, run_id: int) -> dict:
    """Recompute a run at its recorded positions and compare with the stored snapshot."""
    from ledger import ranking_sql

    run = require_run(session, principal, run_id)
    definition = session.get(RankingDefinition, run.definition_id)
    rows = ranking_sql.compute_rows(session, definition.document, run)
    recomputed = entries_hash(session, run.id, rows=rows)
    return {"run_id": run.id, "stored_hash": run.entries_hash, "recomputed_hash": recomputed,
            "matches": recomputed == run.entries_hash}


# --- publication ---------------------------------------------------------------------------

def publish_run(session: Session, principal: Principal, run_id: int) -> dict:
    """Make a run the official list; refused for a superseded run, or when another is official."""
    require_role(principal, "admin", "unit_admin")
    run = require_run(session, principal, run_id)
    status = run_status(session, run.id)
    if status["superseded_by"] is not None:
        raise Conflict(f"run {run.id} was superseded by run {status['superseded_by']}; publish that one",
                       field="run_id")
    if status["is_published"]:
        return run_public(session, run)
    official = official_run(session, run.definition_code, run.period)
    if official is not None:
        raise Conflict(f"run {official.id} is the official list for {run.period}; supersede it first",
                       field="run_id")
    session.add(RankingDecision(run_id=run.id, action="publish", actor=principal.username))
    session.add(AuditEntry(actor=principal.username, action="ranking.publish", target=f"ranking_run:{run.id}"))
    session.flush()
    return run_public(session, run)


def supersede_run(session: Session, principal: Principal, run_id: int, by_run_id: int, reason: str) -> dict:
    """Mark a run as replaced by a later run of the same definition code and period, with a reason."""
    require_role(principal, "admin", "unit_admin")
    if not reason or not reason.strip():
        raise ValidationFailed("superseding a run needs a reason", field="reason")
    run = require_run(session, principal, run_id)
    later = require_run(session, principal, by_run_id)
    if later.id <= run.id or later.definition_code != run.definition_code or later.period != run.period:
        raise ValidationFailed("a run is superseded by a later run of the same definition and period",
                               field="by_run_id")
    if run_status(session, run.id)["superseded_by"] is not None:
        raise Conflict(f"run {run.id} is already superseded", field="run_id")
    if run_status(session, later.id)["superseded_by"] is not None:
        raise Conflict(f"run {later.id} is itself superseded", field="by_run_id")
    session.add(RankingDecision(run_id=run.id, action="supersede", by_run_id=later.id, reason=reason.strip(),
                                actor=principal.username))
    session.add(AuditEntry(actor=principal.username, action="ranking.supersede", target=f"ranking_run:{run.id}",
                           detail={"by_run_id": later.id, "reason": reason.strip()}))
    session.flush()
    return run_public(session, run)


def official_run(session: Session, definition_code: str, period: str) -> RankingRun | None:
    """The published, not superseded run of a definition and period, if any."""
    superseded = select(RankingDecision.run_id).where(RankingDecision.action == "supersede")
    return session.execute(
        select(RankingRun).join(RankingDecision, RankingDecision.run_id == RankingRun.id)
        .where(RankingRun.definition_code == definition_code, RankingRun.period == period,
               RankingDecision.action == "publish", RankingRun.id.not_in(superseded))
        .order_by(RankingRun.id.desc()).limit(1)).scalar_one_or_none()


def definitions_due(session: Session, period_kind: str, root_unit_id: int | None = None) -> list[RankingDefinition]:
    """The newest version of every definition of a period kind (optionally under one unit)."""
    newest = (select(RankingDefinition.code, func.max(RankingDefinition.version).label("version"))
              .group_by(RankingDefinition.code).subquery())
    query = (select(RankingDefinition)
             .join(newest, (newest.c.code == RankingDefinition.code) & (newest.c.version == RankingDefinition.version))
             .where(RankingDefinition.period_kind == period_kind).order_by(RankingDefinition.id))
    if root_unit_id is not None:
        path = unit_path(session, root_unit_id) or "\x00"
        query = query.join(Unit, Unit.id == RankingDefinition.unit_id).where(Unit.path.startswith(path))
    return list(session.execute(query).scalars())


def transactions_of_entry(session: Session, principal: Principal, run_id: int, subject_id: int) -> list[dict]:
    """The transactions behind one entry, with their minutes and points (an audit trace)."""
    from ledger import ranking_sql

    run = require_run(session, principal, run_id)
    definition = session.get(RankingDefinition, run.definition_id)
    return ranking_sql.trace(session, definition.document, run, subject_id)


