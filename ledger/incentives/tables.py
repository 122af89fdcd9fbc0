"""Incentive tables: policy versions (append-only), star events, adjustment runs and their lines."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
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
from ledger.store.tables import utcnow


class StarEvent(Base):
    """A change of star level (星级), up or down, with the date it happened."""

    __tablename__ = "star_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"), index=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    level_before: Mapped[int] = mapped_column(Integer)
    level_after: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PolicyVersion(Base):
    """A published 嘉许激励 policy version for a unit subtree; immutable once stored."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("unit_id", "version", name="uq_policy_versions_unit_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200), default="")
    document: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    published_by: Mapped[str] = mapped_column(String(100))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdjustmentRun(Base):
    """One retroactive adjustment run over a unit subtree and a period: computed → confirmed."""

    __tablename__ = "policy_adjustment_runs"
    __table_args__ = (
        CheckConstraint("status IN ('computed','confirmed')", name="status"),
        CheckConstraint("period_to >= period_from", name="period"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="computed")
    records: Mapped[int] = mapped_column(Integer, default=0)
    volunteers: Mapped[int] = mapped_column(Integer, default=0)
    points_difference: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_position: Mapped[int] = mapped_column(BigInteger, default=0)  # newest tx id it read
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict] = mapped_column(JSON, default=dict)


class AdjustmentLine(Base):
    """One record of a run whose points differ: awarded before, what the policy gives now."""

    __tablename__ = "policy_adjustment_lines"
    __table_args__ = (
        Index("ix_policy_adjustment_lines_run_volunteer", "run_id", "volunteer_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("policy_adjustment_runs.id"))
    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    service_date: Mapped[dt.date] = mapped_column(Date)
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    points_before: Mapped[int] = mapped_column(BigInteger)
    points_after: Mapped[int] = mapped_column(BigInteger)
    difference: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)  # set when confirmed
