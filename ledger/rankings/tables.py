"""Commendation rankings (评先评优) and targets reports: definitions, runs, entries, decisions.

All four tables are append-only: a definition change is a new version, a run is an
immutable snapshot of what the ledger said at a recorded position, and publishing or
superseding a run is a decision row of its own.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base
from ledger.store.tables import BigId, utcnow

__all__ = ["RankingDefinition", "RankingRun", "RankingEntry", "RankingDecision", "TargetReport", "RankingNotice",
           "RankingObjection", "ObjectionResolution", "NoticeOutcome"]


class RankingDefinition(Base):
    """One version of a ranking definition (评选办法) for a unit subtree and period kind."""

    __tablename__ = "ranking_definitions"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_ranking_definitions_code_version"),
        CheckConstraint("period_kind IN ('month','quarter','year')", name="period_kind"),
        CheckConstraint("subject IN ('volunteer','team')", name="subject"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    period_kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(10))
    document: Mapped[dict] = mapped_column(JSON)  # the validated, normalised definition
    content_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RankingRun(Base):
    """A ranking computed for one period at one ledger position: an immutable snapshot."""

    __tablename__ = "ranking_runs"
    __table_args__ = (Index("ix_ranking_runs_definition_period", "definition_id", "period"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(120), unique=True)  # natural key: no duplicate runs
    definition_id: Mapped[int] = mapped_column(ForeignKey("ranking_definitions.id"))
    definition_code: Mapped[str] = mapped_column(String(60), index=True)
    period: Mapped[str] = mapped_column(String(10))  # 2026, 2026-Q3, 2026-07
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)  # inclusive
    cutoff_on: Mapped[dt.date | None] = mapped_column(Date)  # 截至日期: services up to this day only
    entries_format: Mapped[int] = mapped_column(Integer, default=2, server_default="1")  # which figures entries_hash covers
    ledger_position: Mapped[int] = mapped_column(BigInteger)  # transactions.id <= this
    star_position: Mapped[int] = mapped_column(BigInteger)  # star_events.id <= this
    trigger: Mapped[str] = mapped_column(String(20))  # on_demand | scheduled
    candidates: Mapped[int] = mapped_column(Integer)
    eligible: Mapped[int] = mapped_column(Integer)
    shortlisted: Mapped[int] = mapped_column(Integer)
    entries_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RankingEntry(Base):
    """One ranked subject (volunteer or team) of a run, with the figures behind its rank."""

    __tablename__ = "ranking_entries"
    __table_args__ = (
        UniqueConstraint("run_id", "subject_id", name="uq_ranking_entries_run_subject"),
        Index("ix_ranking_entries_run_group_rank", "run_id", "group_unit_id", "rank"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ranking_runs.id"))
    subject_id: Mapped[int] = mapped_column(Integer)  # volunteer id or team id
    subject_name: Mapped[str] = mapped_column(String(200))
    subject_number: Mapped[str] = mapped_column(String(40))  # 志愿者编号 or team code
    group_unit_id: Mapped[int] = mapped_column(Integer)  # the quota group (a unit)
    minutes: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    activities: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(Integer)
    rating_count: Mapped[int] = mapped_column(Integer)
    tx_count: Mapped[int] = mapped_column(Integer)  # transactions summed into the figures
    year_minutes: Mapped[int] = mapped_column(BigInteger)  # minutes in the period's calendar year
    star_level: Mapped[int] = mapped_column(Integer)
    is_eligible: Mapped[bool] = mapped_column(Boolean)
    lacks_hours: Mapped[bool] = mapped_column(Boolean)  # below the minimum hours
    lacks_star: Mapped[bool] = mapped_column(Boolean)  # below the minimum star level
    has_reversed_record: Mapped[bool] = mapped_column(Boolean)  # a record of the period reversed
    lacks_membership: Mapped[bool] = mapped_column(Boolean)  # no active membership at the cut-off
    # entries_format 2 (None in runs made before): the dates behind the tie-breaks and new rules
    threshold_on: Mapped[dt.date | None] = mapped_column(Date)  # the day the thresholds were met
    last_service_on: Mapped[dt.date | None] = mapped_column(Date)
    registered_on: Mapped[dt.date | None] = mapped_column(Date)
    upheld_complaints: Mapped[int | None] = mapped_column(Integer)  # records of the period with one
    lacks_points: Mapped[bool | None] = mapped_column(Boolean)
    lacks_activities: Mapped[bool | None] = mapped_column(Boolean)
    has_upheld_complaint: Mapped[bool | None] = mapped_column(Boolean)
    lacks_registration: Mapped[bool | None] = mapped_column(Boolean)  # registered too recently
    rank: Mapped[int | None] = mapped_column(Integer)  # within the group; None when ineligible
    is_shortlisted: Mapped[bool] = mapped_column(Boolean)


class RankingDecision(Base):
    """Publishing a run (the official list) or superseding it by a later run, with a reason."""

    __tablename__ = "ranking_decisions"
    __table_args__ = (
        UniqueConstraint("run_id", "action", name="uq_ranking_decisions_run_action"),
        CheckConstraint("action IN ('publish','supersede')", name="action"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ranking_runs.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    by_run_id: Mapped[int | None] = mapped_column(ForeignKey("ranking_runs.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TargetReport(Base):
    """A targets report (目标考核) of a unit subtree for a period, at a ledger position."""

    __tablename__ = "target_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_key: Mapped[str] = mapped_column(String(120), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    period: Mapped[str] = mapped_column(String(10))
    cutoff_on: Mapped[dt.date | None] = mapped_column(Date)  # 截至日期 (year or quarter to date)
    ledger_position: Mapped[int] = mapped_column(BigInteger)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(20))
    figures: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RankingNotice(Base):
    """A published run put on public notice (公示) from one day to another (inclusive)."""

    __tablename__ = "ranking_notices"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="days"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ranking_runs.id"), unique=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RankingObjection(Base):
    """An objection (异议) to a list on notice, from anyone; the contact kept hashed and masked."""

    __tablename__ = "ranking_objections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("ranking_notices.id"), index=True)
    line: Mapped[int | None] = mapped_column(Integer)  # the 序号 on the public list it is about
    subject_id: Mapped[int | None] = mapped_column(Integer)
    objector_name: Mapped[str] = mapped_column(String(50), default="")
    contact_hash: Mapped[str] = mapped_column(String(64))
    contact_masked: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    received_on: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ObjectionResolution(Base):
    """The county's answer to an objection: upheld (成立) or dismissed (不成立), with a reply."""

    __tablename__ = "ranking_objection_resolutions"
    __table_args__ = (CheckConstraint("outcome IN ('upheld','dismissed')", name="outcome"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    objection_id: Mapped[int] = mapped_column(ForeignKey("ranking_objections.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(10))
    reply: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NoticeOutcome(Base):
    """How a notice ended: the list confirmed final (确认), or superseded by a later run, with a reason."""

    __tablename__ = "ranking_notice_outcomes"
    __table_args__ = (CheckConstraint("outcome IN ('confirmed','superseded')", name="outcome"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("ranking_notices.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(12))
    by_run_id: Mapped[int | None] = mapped_column(ForeignKey("ranking_runs.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
