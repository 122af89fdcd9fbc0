"""The certificate registry (志愿服务证明): every issued certificate's hash and code."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base
from ledger.store.tables import utcnow


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
