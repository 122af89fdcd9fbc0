"""The book's tables: accounts, transactions with their keys, postings, checkpoints."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base
from ledger.store.tables import BigId, utcnow


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
    """A seal over a range of transactions, chained to the previous seal, signed by the deployment."""

    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(20), unique=True)
    first_tx_id: Mapped[int] = mapped_column(BigInteger)
    last_tx_id: Mapped[int] = mapped_column(BigInteger)
    tx_count: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(10), default="seal", server_default="seal")  # or "rehash"
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    signature: Mapped[str | None] = mapped_column(String(100))  # Ed25519, base64 (`checkpoints.signed_bytes`)


class DeploymentPeer(Base):
    """Another deployment (another county's instance) whose Ed25519 public key we trust."""

    __tablename__ = "deployment_peers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    public_key: Mapped[str] = mapped_column(String(100))  # base64 of the raw 32-byte key
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the raw key, hex
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
