"""Self-service tables: sign-in codes, sign-in attempts, and the certificate registry."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, Boolean
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.tables.core import BigId, utcnow

__all__ = ["SignInCode", "SignInAttempt", "Certificate"]


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


class Certificate(Base):
    """A 志愿服务证明 as issued: its canonical content, hash and verification code; append-only."""

    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint("period_to >= period_from", name="period"),
        CheckConstraint("minutes > 0", name="minutes"),
        Index("ix_certificates_volunteer", "volunteer_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # 证明编号
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))  # issuing unit (出具单位)
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(100))  # the username who issued it
    content: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as signed
    content_hash: Mapped[str] = mapped_column(String(64))
    verification_code: Mapped[str] = mapped_column(String(40))
