"""Foundation tables: organisation, people, activities, service records, the ledger."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer,
    String, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")

__all__ = [
    "Unit", "Team", "Volunteer", "Membership", "User", "ApiToken", "Activity", "ServiceRecord",
    "Account", "Transaction", "TransactionKey", "Posting", "Checkpoint", "StarEvent", "PolicyVersion",
    "IdempotencyKey", "AuditEntry", "JobRun", "BigId",
]


def utcnow() -> dt.datetime:
    """The current time in UTC, timezone-aware."""
    return dt.datetime.now(dt.timezone.utc)


class Unit(Base):
    """An organisation unit: 中心 center → 所 institute → 站 station → 点 point."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint("kind IN ('center','institute','station','point')", name="kind"),
        CheckConstraint("population IS NULL OR population >= 0", name="population"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    path: Mapped[str] = mapped_column(String(400), index=True)  # "/1/4/9/": subtree = prefix
    population: Mapped[int | None] = mapped_column(Integer)
    responsible_person: Mapped[str | None] = mapped_column(String(100))
    contact: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Team(Base):
    """A volunteer team (总队/支队/分队/小队) of one service category, hanging off a unit."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(20), default="小队")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Volunteer(Base):
    """A volunteer (志愿者); the ID-card number is kept only as a keyed hash and a mask."""

    __tablename__ = "volunteers"
    __table_args__ = (CheckConstraint("status IN ('active','left')", name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # 志愿者编号
    name: Mapped[str] = mapped_column(String(100))
    id_type: Mapped[str] = mapped_column(String(20), default="居民身份证")
    id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_masked: Mapped[str | None] = mapped_column(String(40))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(40))
    is_party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_on: Mapped[dt.date] = mapped_column(Date)
    home_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Membership(Base):
    """One period of belonging: the home unit (exactly one at a time) or a team."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        Index("ix_memberships_volunteer_from", "volunteer_id", "valid_from"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    is_home: Mapped[bool] = mapped_column(Boolean, default=True)
    role: Mapped[str] = mapped_column(String(40), default="志愿者")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)  # exclusive; NULL = open
    ended_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """Someone who signs in: admin, unit_admin, desk_operator, auditor or volunteer."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin','unit_admin','desk_operator','auditor','volunteer')", name="role"
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # scope: unit subtree
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"), unique=True)
    desk_id: Mapped[int | None] = mapped_column(Integer)  # the desk an operator works at
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Activity(Base):
    """A service activity (活动) held by a unit, optionally by one of its teams."""

    __tablename__ = "activities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    held_on: Mapped[dt.date] = mapped_column(Date, index=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)  # e.g. ["应急"]
    is_concentrated: Mapped[bool] = mapped_column(Boolean, default=False)  # 集中服务
    organiser: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServiceRecord(Base):
    """One volunteer's service in one activity: pending → posted, or rejected; reversed."""

    __tablename__ = "service_records"
    __table_args__ = (
        CheckConstraint("ended_at > started_at", name="period"),
        CheckConstraint("minutes > 0 AND minutes <= 1440", name="minutes"),
        CheckConstraint("status IN ('pending','posted','rejected','reversed')", name="status"),
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating"),
        Index("ix_service_records_volunteer_start", "volunteer_id", "started_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # attribution
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)  # local time (Asia/Shanghai)
    ended_at: Mapped[dt.datetime] = mapped_column(DateTime)
    minutes: Mapped[int] = mapped_column(Integer)  # actual service, travel excluded
    service_kind: Mapped[str | None] = mapped_column(String(40))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    confirmed_by: Mapped[str] = mapped_column(String(100), default="")  # organiser / served
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reject_reason: Mapped[str | None] = mapped_column(String(400))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(Integer)  # 评单 1–5
    complaint_upheld: Mapped[bool] = mapped_column(Boolean, default=False)
    # the posting transaction; no foreign key, since transactions name their record
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(100), default="api")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Account(Base):
    """A ledger account of one unit of measure; `balance` caches the sum of its postings."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner_id", name="uq_accounts_kind_owner"),
        CheckConstraint("uom IN ('MIN','PTS')", name="uom"),
        CheckConstraint("NOT is_non_negative OR balance >= 0", name="non_negative"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int] = mapped_column(Integer)
    uom: Mapped[str] = mapped_column(String(3))
    is_non_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Transaction(Base):
    """One business event in the ledger; append-only (triggers refuse UPDATE/DELETE)."""

    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_volunteer", "volunteer_id", "id"),
                      Index("ix_transactions_volunteer_date", "volunteer_id", "occurred_on", "id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date, index=True)  # business date
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), unique=True)
    service_record_id: Mapped[int | None] = mapped_column(ForeignKey("service_records.id"), index=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))


class TransactionKey(Base):
    """The ledger-wide unique keys of a transaction, one row per transaction; append-only.

    On PostgreSQL `transactions` is partitioned by month of business date (revision 0015),
    and a partitioned table can only hold unique keys that include its partition key.  This
    plain table holds what must be unique across the whole ledger: the transaction's id (which
    the star events and the transfers reference), its idempotency key, and the transaction it
    reverses (nothing is reversed twice).  `post` writes it in the same database transaction.
    """

    __tablename__ = "transaction_keys"
    __table_args__ = (  # a partial index: the many transactions that reverse nothing are not in it
        Index("uq_transaction_keys_reverses_id", "reverses_id", unique=True,
              postgresql_where=text("reverses_id IS NOT NULL"), sqlite_where=text("reverses_id IS NOT NULL")),
    )
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), primary_key=True,
                                                autoincrement=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)  # the transaction's: its partition
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("transaction_keys.transaction_id"))


class Posting(Base):
    """An integer amount into (+) or out of (−) one account; append-only."""

    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        CheckConstraint("uom IN ('MIN','PTS')", name="uom"),
        Index("ix_postings_account", "account_id", "id"),
        Index("ix_postings_volunteer_date", "volunteer_id", "occurred_on"),
        Index("ix_postings_unit_date", "unit_id", "occurred_on"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    uom: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    volunteer_id: Mapped[int | None] = mapped_column(Integer)  # owner, for keyed reads
    unit_id: Mapped[int | None] = mapped_column(Integer)  # unit the amount is attributed to
    occurred_on: Mapped[dt.date] = mapped_column(Date)


class Checkpoint(Base):
    """A seal over a range of transactions, chained to the previous seal."""

    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(20), unique=True)
    first_tx_id: Mapped[int] = mapped_column(BigInteger)
    last_tx_id: Mapped[int] = mapped_column(BigInteger)
    tx_count: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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


class IdempotencyKey(Base):
    """The first result of a client write, returned again for a retry with the same key."""

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(60))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """An administrative action; append-only."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class JobRun(Base):
    """One run of a scheduled job for one period; the unique key makes a rerun a no-op."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period", name="uq_job_runs_job_period"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict] = mapped_column(JSON, default=dict)
