"""history by service date: an index on transactions (volunteer_id, occurred_on, id)

A volunteer's history is shown newest service date first; this keeps the first page a
keyed index read whatever the length of the history.

Revision ID: 0011
Revises: 0001
Create Date: 2026-11-23
"""
from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_transactions_volunteer_date", "transactions", ["volunteer_id", "occurred_on", "id"])


def downgrade() -> None:
    op.drop_index("ix_transactions_volunteer_date", table_name="transactions")
