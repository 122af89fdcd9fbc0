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
# ruff: noqa: F401  (the definitions are re-exported: callers read `rankings.define_ranking` as one concept)
from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.book.amounts import hours_text
from ledger.book.postings import ledger_position
from ledger.errors import Conflict, NotFound, ValidationFailed
from ledger.incentives.tables import StarEvent
from ledger.people.access import Principal, in_scope, require_in_scope, require_role, unit_path
from ledger.people.tables import Unit
from ledger.rankings.definitions import (
    METRIC_NAMES,
    METRICS,
    PERIOD_KINDS,
    REASONS,
    SUBJECTS,
    TIE_BREAKS,
    define_ranking,
    definition_public,
    latest_definition,
    list_definitions,
    period_bounds,
    previous_period,
    require_cutoff,
    require_definition,
    require_ended,
    validate_definition,
)
from ledger.rankings.tables import (
    NoticeOutcome,
    RankingDecision,
    RankingDefinition,
    RankingEntry,
    RankingNotice,
    RankingRun,
)
from ledger.store.tables import AuditEntry

# --- runs ----------------------------------------------------------------------------------

def _star_position(session: Session, position: int, is_current: bool) -> int:
    """The newest star event a run at `position` may see."""
    query = select(func.coalesce(func.max(StarEvent.id), 0))
    if not is_current:
        query = query.where(StarEvent.transaction_id <= position)
    return int(session.execute(query).scalar_one())


def run_ranking(session: Session, principal: Principal, definition_id: int, period: str, today: dt.date,
                *, position: int | None = None, trigger: str = "on_demand", as_of: dt.date | str | None = None) -> dict:
    """Rank a finished period — or a period up to a cut-off date inside it (`as_of`, 截至日期) —
    at a ledger position (default: now) and store the snapshot.

    The same definition version, period, cut-off and position always give the same snapshot,
    so asking again returns the stored run.  A scheduled run is unique per definition and period.
    """
    from ledger.rankings import rank_sql

    require_role(principal, "admin", "unit_admin")
    definition = require_definition(session, principal, definition_id)
    if as_of is None:
        (start, end), cutoff = require_ended(definition.period_kind, period, today), None
    else:
        start, end, cutoff = require_cutoff(definition.period_kind, period, as_of, today)
    current = ledger_position(session)
    if position is None:
        position = current
    elif isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= current:
        raise ValidationFailed(f"position must be a transaction id from 0 to {current}", field="position")
    key = (f"scheduled:{definition.id}:{period}" if trigger == "scheduled"
           else f"run:{definition.id}:{period}:{position}" + (f":as-of:{cutoff.isoformat()}" if cutoff else ""))
    existing = session.execute(select(RankingRun).where(RankingRun.run_key == key)).scalar_one_or_none()
    if existing is not None:
        return run_public(session, existing)
    run = RankingRun(run_key=key, definition_id=definition.id, definition_code=definition.code, period=period,
                     period_start=start, period_end=end, cutoff_on=cutoff, entries_format=2,
                     ledger_position=position,
                     star_position=_star_position(session, position, position == current), trigger=trigger,
                     candidates=0, eligible=0, shortlisted=0, entries_hash="", created_by=principal.username)
    session.add(run)
    session.flush()
    sealed = rank_sql.insert_entries(session, definition.document, run)
    if sealed is None:  # SQLite: counted in SQL, hashed in Python over the stored entries
        sealed = (*rank_sql.entry_counts(session, run.id), entries_hash(session, run.id))
    # the run row is sealed once, here: the database refuses any change after entries_hash is set
    run.candidates, run.eligible, run.shortlisted, run.entries_hash = sealed
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="ranking.run", target=f"ranking_run:{run.id}",
                           detail={"definition_id": definition.id, "period": period, "position": position,
                                   "as_of": cutoff and cutoff.isoformat()}))
    return run_public(session, run)


def entries_hash(session: Session, run_id: int, rows=None) -> str:
    """SHA-256 over a run's entries in a fixed order (streamed, never all in memory).

    Each entry is one line, json.dumps of the figures of the run's entries format
    (`rank_sql.entry_columns`; ensure_ascii=False, dates as ISO text) and a newline, in subject
    order; on PostgreSQL `rank_sql.insert_entries` renders the same bytes in the database when
    it writes the entries."""
    from ledger.rankings.rank_sql import entry_columns

    digest = hashlib.sha256()
    if rows is None:
        names = entry_columns(session.get(RankingRun, run_id).entries_format)
        rows = session.execute(select(*[getattr(RankingEntry, name) for name in names])
                               .where(RankingEntry.run_id == run_id)
                               .order_by(RankingEntry.subject_id).execution_options(yield_per=5000))
    for row in rows:
        digest.update(json.dumps([_plain(v) for v in row], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _plain(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    return int(value)


def run_status(session: Session, run_id: int) -> dict:
    """Whether a run is published and/or superseded (and by which run, why), and its public
    notice (公示): the notice's id and whether the list was confirmed final after it."""
    decisions = session.execute(select(RankingDecision).where(RankingDecision.run_id == run_id)).scalars().all()
    status = {"is_published": False, "published_at": None, "superseded_by": None, "supersede_reason": None}
    for decision in decisions:
        if decision.action == "publish":
            status["is_published"], status["published_at"] = True, decision.at.isoformat()
        else:
            status["superseded_by"], status["supersede_reason"] = decision.by_run_id, decision.reason
    notice = session.execute(select(RankingNotice.id, NoticeOutcome.outcome)
                             .outerjoin(NoticeOutcome, NoticeOutcome.notice_id == RankingNotice.id)
                             .where(RankingNotice.run_id == run_id)).first()
    status["notice_id"] = notice and notice[0]
    status["is_final"] = bool(notice and notice[1] == "confirmed")
    return status


def run_public(session: Session, run: RankingRun) -> dict:
    """A run as shown to clients (without its entries)."""
    return {"id": run.id, "definition_id": run.definition_id, "definition_code": run.definition_code,
            "period": run.period, "period_start": run.period_start.isoformat(),
            "period_end": run.period_end.isoformat(), **cutoff_public(run.cutoff_on, run.period_end),
            "ledger_position": run.ledger_position,
            "star_position": run.star_position, "trigger": run.trigger, "candidates": run.candidates,
            "eligible": run.eligible, "shortlisted": run.shortlisted, "entries_hash": run.entries_hash,
            "created_by": run.created_by,
            "created_at": run.created_at.isoformat() if run.created_at else None, **run_status(session, run.id)}


def cutoff_public(cutoff: dt.date | None, period_end: dt.date) -> dict:
    """How a run or report marks its cut-off (截至日期): every page and export shows `basis_label`."""
    if cutoff is None:
        return {"as_of": None, "counted_to": period_end.isoformat(), "is_provisional": False,
                "basis_label": f"全期（至 {period_end.isoformat()}）"}
    return {"as_of": cutoff.isoformat(), "counted_to": cutoff.isoformat(), "is_provisional": True,
            "basis_label": f"截至 {cutoff.isoformat()}（非全期统计，非最终结果）"}


def require_run(session: Session, principal: Principal, run_id: int, field: str = "run_id") -> RankingRun:
    """A run whose definition lies in the principal's scope; else not found (the same words either way)."""
    require_role(principal, "admin", "unit_admin", "auditor")
    run = session.get(RankingRun, run_id)
    definition = session.get(RankingDefinition, run.definition_id) if run is not None else None
    path = unit_path(session, definition.unit_id) if definition is not None else None
    require_in_scope(principal, path, "评选结果", run_id, field)
    return run




def rating_text(rating_sum: int, rating_count: int) -> str | None:
    """The average 评单 rating to two decimals, or None without ratings."""
    if not rating_count:
        return None
    return str((Decimal(rating_sum) / rating_count).quantize(Decimal("0.01")))


def entry_public(entry) -> dict:
    """An entry with the figures behind its rank."""
    from ledger.rankings.rank_sql import ENTRY_COLUMNS

    row = {name: _plain(getattr(entry, name)) for name in ENTRY_COLUMNS}
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
    from ledger.rankings import rank_sql, sql as ranking_sql

    run = require_run(session, principal, run_id)
    definition = session.get(RankingDefinition, run.definition_id)
    with ranking_sql.report_settings(session):
        rows = rank_sql.compute_rows(session, definition.document, run)
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
    later = require_run(session, principal, by_run_id, field="by_run_id")
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
        path = unit_path(session, root_unit_id) or "//"  # "//" starts no path: matches nothing
        query = query.join(Unit, Unit.id == RankingDefinition.unit_id).where(Unit.path.startswith(path))
    return list(session.execute(query).scalars())


def transactions_of_entry(session: Session, principal: Principal, run_id: int, subject_id: int) -> list[dict]:
    """The transactions behind one entry, with their minutes and points (an audit trace)."""
    from ledger.rankings import sql as ranking_sql

    run = require_run(session, principal, run_id)
    definition = session.get(RankingDefinition, run.definition_id)
    return ranking_sql.trace(session, definition.document, run, subject_id)


