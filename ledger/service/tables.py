"""Service tables: activities (活动) and service records (服务记录)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String
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
