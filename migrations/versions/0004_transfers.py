"""transfers

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23

Transfers (转移接续): trusted peer deployments' public keys, moves of a volunteer's home
unit inside this deployment, and the log of signed packages sent and received.  The two
logs are append-only.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import drop_append_only, make_append_only

APPEND_ONLY = ("volunteer_transfers", "transfer_packages")

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployment_peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_peers")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_deployment_peers_deployment_id")),
    )
    op.create_table(
        "volunteer_transfers",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("from_unit_id", sa.Integer(), nullable=False),
        sa.Column("to_unit_id", sa.Integer(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("closed_membership_id", sa.Integer(), nullable=False),
        sa.Column("opened_membership_id", sa.Integer(), nullable=False),
        sa.Column("points_moved", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("from_unit_id <> to_unit_id", name=op.f("ck_volunteer_transfers_distinct_units")),
        sa.CheckConstraint("points_moved >= 0", name=op.f("ck_volunteer_transfers_points_moved")),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteers.id"],
                                name=op.f("fk_volunteer_transfers_volunteer_id_volunteers")),
        sa.ForeignKeyConstraint(["from_unit_id"], ["units.id"],
                                name=op.f("fk_volunteer_transfers_from_unit_id_units")),
        sa.ForeignKeyConstraint(["to_unit_id"], ["units.id"],
                                name=op.f("fk_volunteer_transfers_to_unit_id_units")),
        sa.ForeignKeyConstraint(["closed_membership_id"], ["memberships.id"],
                                name=op.f("fk_volunteer_transfers_closed_membership_id_memberships")),
        sa.ForeignKeyConstraint(["opened_membership_id"], ["memberships.id"],
                                name=op.f("fk_volunteer_transfers_opened_membership_id_memberships")),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"],
                                name=op.f("fk_volunteer_transfers_transaction_id_transactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_transfers")),
        sa.UniqueConstraint("closed_membership_id", name=op.f("uq_volunteer_transfers_closed_membership_id")),
        sa.UniqueConstraint("opened_membership_id", name=op.f("uq_volunteer_transfers_opened_membership_id")),
    )
    op.create_index("ix_volunteer_transfers_volunteer", "volunteer_transfers", ["volunteer_id", "id"])
    op.create_table(
        "transfer_packages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("package_id", sa.String(length=80), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved_on", sa.Date(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('out','in')", name=op.f("ck_transfer_packages_direction")),
        sa.ForeignKeyConstraint(["volunteer_id"], ["volunteers.id"],
                                name=op.f("fk_transfer_packages_volunteer_id_volunteers")),
        sa.ForeignKeyConstraint(["peer_id"], ["deployment_peers.id"],
                                name=op.f("fk_transfer_packages_peer_id_deployment_peers")),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"],
                                name=op.f("fk_transfer_packages_transaction_id_transactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_packages")),
        sa.UniqueConstraint("package_id", name=op.f("uq_transfer_packages_package_id")),
    )
    op.create_index("ix_transfer_packages_volunteer", "transfer_packages", ["volunteer_id", "exported_at"])
    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    op.drop_index("ix_transfer_packages_volunteer", table_name="transfer_packages")
    op.drop_table("transfer_packages")
    op.drop_index("ix_volunteer_transfers_volunteer", table_name="volunteer_transfers")
    op.drop_table("volunteer_transfers")
    op.drop_table("deployment_peers")
