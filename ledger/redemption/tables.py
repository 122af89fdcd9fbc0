"""Redemption desks (积分兑换点 / 爱心超市): catalogue, stock movements, receipts, reservations."""
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
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base
from ledger.store.tables import BigId, utcnow

__all__ = ["Desk", "DeskItem", "StockMovement", "Receipt", "ReceiptLine", "Reservation",
           "ReservationLine"]


class Desk(Base):
    """A redemption desk of a unit, open on some weekdays (ISO: 1 = Monday … 7 = Sunday)."""

    __tablename__ = "desks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    opening_weekdays: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeskItem(Base):
    """An item of a desk's catalogue: goods or a service, its price and its cached stock."""

    __tablename__ = "desk_items"
    __table_args__ = (
        UniqueConstraint("desk_id", "name", name="uq_desk_items_desk_name"),
        CheckConstraint("kind IN ('goods','service')", name="kind"),
        CheckConstraint("price_points > 0", name="price"),
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("limit_quantity IS NULL OR limit_quantity > 0", name="limit_quantity"),
        CheckConstraint("limit_period IS NULL OR limit_period IN ('day','week','month','year')",
                        name="limit_period"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="goods")
    unit_label: Mapped[str] = mapped_column(String(20), default="件")
    price_points: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    limit_quantity: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(10))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StockMovement(Base):
    """One change of an item's stock, signed; append-only.  `points` values redemptions."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint("quantity <> 0", name="nonzero"),
        CheckConstraint("stock_after >= 0", name="stock_after"),
        CheckConstraint("kind IN ('receive','adjust','redeem','cancel','reserve','release')",
                        name="kind"),
        Index("ix_stock_movements_desk_date", "desk_id", "occurred_on"),
        Index("ix_stock_movements_item", "item_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("desk_items.id"))
    kind: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[int] = mapped_column(Integer)
    stock_after: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger, default=0)  # + redeemed, − cancelled
    reason: Mapped[str] = mapped_column(String(400), default="")
    actor: Mapped[str] = mapped_column(String(100))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    receipt_id: Mapped[int | None] = mapped_column(Integer)
    reservation_id: Mapped[int | None] = mapped_column(Integer)


class Receipt(Base):
    """A redemption (兑换小票): what a volunteer took at a desk, and the ledger transaction."""

    __tablename__ = "redemption_receipts"
    __table_args__ = (
        CheckConstraint("status IN ('posted','cancelled')", name="status"),
        CheckConstraint("points > 0", name="points"),
        Index("ix_redemption_receipts_volunteer", "volunteer_id", "occurred_on"),
        Index("ix_redemption_receipts_desk", "desk_id", "occurred_on"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    operator: Mapped[str] = mapped_column(String(100))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    points: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[int] = mapped_column(BigInteger)
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="posted")
    cancelled_by: Mapped[str | None] = mapped_column(String(100))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(400))
    cancel_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReceiptLine(Base):
    """One item on a receipt, at the price shown to the volunteer."""

    __tablename__ = "redemption_receipt_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("redemption_receipts.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("desk_items.id"))
    item_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)


class Reservation(Base):
    """Items reserved (预约) for a desk's opening day; the points are held until pickup."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("status IN ('held','picked_up','released','cancelled')", name="status"),
        CheckConstraint("points > 0", name="points"),
        Index("ix_reservations_status_pickup", "status", "pickup_on"),
        Index("ix_reservations_volunteer", "volunteer_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    pickup_on: Mapped[dt.date] = mapped_column(Date)
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="held")
    transaction_id: Mapped[int] = mapped_column(BigInteger)
    release_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    receipt_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReservationLine(Base):
    """One item of a reservation, at the price shown when it was made."""

    __tablename__ = "reservation_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("desk_items.id"))
    item_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
