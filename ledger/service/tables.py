"""Service tables: activities (活动), service records (服务记录), and the service loop
(orders and their events, recruitments and sign-ups, attendance scans and flags)."""
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
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base
from ledger.store.tables import utcnow


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


# --- the service loop: 点单 → 派单 → 接单 → 评单, 招募/报名, 签到/签退 -------------------------

ORDER_EVENT_KINDS = ("submitted", "dispatched", "declined", "taken", "overdue", "completed", "rated",
                     "complained", "complaint_resolved", "cancelled")


class ServiceOrder(Base):
    """A resident's request for a service (点单); never changed: its state comes from its events."""

    __tablename__ = "service_orders"
    __table_args__ = (
        Index("ix_service_orders_phone_created", "phone_hash", "created_at"),
        Index("ix_service_orders_client_created", "client_hash", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # where it is wanted
    kind: Mapped[str] = mapped_column(String(40))  # 理论宣讲, 教育服务, … or the unit's own
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(1000), default="")
    place: Mapped[str] = mapped_column(String(200))
    wanted_at: Mapped[dt.datetime] = mapped_column(DateTime)  # local time (Asia/Shanghai)
    contact_name: Mapped[str] = mapped_column(String(100))
    phone_hash: Mapped[str] = mapped_column(String(64))
    phone_masked: Mapped[str] = mapped_column(String(40))
    challenge_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # a challenge answers once
    client_hash: Mapped[str | None] = mapped_column(String(64))  # keyed hash of the client address
    source: Mapped[str] = mapped_column(String(10))  # public | staff
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OrderEvent(Base):
    """One step of an order, with who and when; append-only."""

    __tablename__ = "order_events"
    __table_args__ = (
        CheckConstraint("kind IN (" + ",".join(f"'{k}'" for k in ORDER_EVENT_KINDS) + ")", name="kind"),
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating"),
        Index("ix_order_events_order", "order_id", "id"),
        Index("ix_order_events_kind_at", "kind", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_orders.id"))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    target_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    target_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    rating: Mapped[int | None] = mapped_column(Integer)
    upheld: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(400), default="")


class Recruitment(Base):
    """An activity published for sign-up (招募): quota, deadline, the teams it is open to."""

    __tablename__ = "recruitments"
    __table_args__ = (CheckConstraint("quota > 0", name="quota"),)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), primary_key=True)
    quota: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    team_ids: Mapped[list] = mapped_column(JSON, default=list)  # empty: open to every volunteer in scope
    requires_signup: Mapped[bool] = mapped_column(Boolean, default=True)  # to sign in
    published_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Signup(Base):
    """A volunteer's sign-up (报名) for a recruitment; cancelled, never deleted."""

    __tablename__ = "signups"
    __table_args__ = (
        Index("uq_signups_active", "activity_id", "volunteer_id", unique=True,
              sqlite_where=text("cancelled_at IS NULL"), postgresql_where=text("cancelled_at IS NULL")),
        Index("ix_signups_volunteer", "volunteer_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("recruitments.activity_id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    signed_up_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AttendanceScan(Base):
    """A sign-in or sign-out (签到/签退) at an activity, scanned or by hand; append-only."""

    __tablename__ = "attendance_scans"
    __table_args__ = (
        CheckConstraint("direction IN ('in','out')", name="direction"),
        CheckConstraint("method IN ('scan','manual')", name="method"),
        UniqueConstraint("activity_id", "volunteer_id", "direction", name="uq_attendance_scans_once"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))
    at: Mapped[dt.datetime] = mapped_column(DateTime)  # local time (Asia/Shanghai)
    method: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AttendanceFlag(Base):
    """What check-in found wrong (a missing sign-out, an impossible span, an overlap): for a person."""

    __tablename__ = "attendance_flags"
    __table_args__ = (
        CheckConstraint("kind IN ('missing_sign_out','impossible_span','overlap')", name="kind"),
        UniqueConstraint("activity_id", "volunteer_id", "kind", name="uq_attendance_flags_once"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    kind: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(400), default="")
    flagged_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
