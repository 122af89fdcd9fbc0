"""People tables: the organisation tree, teams, volunteers, memberships, users, tokens and sign-in codes."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base
from ledger.store.tables import BigId, utcnow


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
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; NULL: no console sign-in
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # who made this user: they may not approve that person's records (the two-person rule)
    created_by: Mapped[int | None] = mapped_column(Integer)  # a user id (users are never deleted)


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


class SignInCode(Base):
    """A one-time code or a PIN a station issued to a volunteer; only its keyed hash is kept."""

    __tablename__ = "sign_in_codes"
    __table_args__ = (
        CheckConstraint("kind IN ('code','pin')", name="kind"),
        Index("ix_sign_in_codes_volunteer_kind", "volunteer_id", "kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    kind: Mapped[str] = mapped_column(String(10))  # code: used once, expires; pin: reusable
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SignInGuard(Base):
    """One row per volunteer number and per client address signed in with: an attempt upserts
    its rows first, which holds their lock until it commits, so attempts on one subject are
    counted one after another (never two reading the same count)."""

    __tablename__ = "sign_in_guards"
    subject: Mapped[str] = mapped_column(String(120), primary_key=True)  # "number:…" or "address:…"
    touched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SignInAttempt(Base):
    """One sign-in attempt, right or wrong: the basis of the per-volunteer and per-address limits."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_number_at", "volunteer_number", "at"),
        Index("ix_sign_in_attempts_address_at", "client_address", "at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    volunteer_number: Mapped[str] = mapped_column(String(40))  # as typed (may not exist)
    client_address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class VolunteerApplication(Base):
    """A person's application to join a station from the phone (实名注册): pending → confirmed | refused."""

    __tablename__ = "volunteer_applications"
    __table_args__ = (
        CheckConstraint("status IN ('pending','confirmed','refused')", name="status"),
        Index("uq_volunteer_applications_pending", "id_hash", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_volunteer_applications_unit_status", "unit_id", "status"),
        Index("ix_volunteer_applications_client_at", "client_hash", "applied_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    name: Mapped[str] = mapped_column(String(100))
    id_hash: Mapped[str] = mapped_column(String(64))
    id_masked: Mapped[str] = mapped_column(String(40))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    client_hash: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(400))
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"))


class StaffSession(Base):
    """A staff member's console session (the cookie); only its SHA-256 is stored, and it can be revoked."""

    __tablename__ = "staff_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
