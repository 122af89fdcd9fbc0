"""Transfer tables (转移接续): trusted deployment keys, moves between units, package log."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base
from ledger.store.tables import BigId, utcnow

__all__ = ["VolunteerTransfer", "TransferPackage"]


class VolunteerTransfer(Base):
    """One move of a volunteer's home unit inside this deployment; append-only."""

    __tablename__ = "volunteer_transfers"
    __table_args__ = (
        CheckConstraint("from_unit_id <> to_unit_id", name="distinct_units"),
        CheckConstraint("points_moved >= 0", name="points_moved"),
        Index("ix_volunteer_transfers_volunteer", "volunteer_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    closed_membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"), unique=True)
    opened_membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"), unique=True)
    points_moved: Mapped[int] = mapped_column(Integer, default=0)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TransferPackage(Base):
    """A signed transfer package sent to ('out') or received from ('in') a peer; append-only."""

    __tablename__ = "transfer_packages"
    __table_args__ = (
        CheckConstraint("direction IN ('out','in')", name="direction"),
        Index("ix_transfer_packages_volunteer", "volunteer_id", "exported_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    package_id: Mapped[str] = mapped_column(String(80), unique=True)
    direction: Mapped[str] = mapped_column(String(3))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    peer_id: Mapped[int] = mapped_column(ForeignKey("deployment_peers.id"))
    exported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    moved_on: Mapped[dt.date] = mapped_column(Date)  # left on (out) / arrived on (in)
    body_sha256: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[str] = mapped_column(Text)  # the signed package, canonical JSON
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
