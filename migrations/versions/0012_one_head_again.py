"""one head again: the concept branches (policies, transfers, redemption, rankings,
self-service, year minutes, history index) joined, so new revisions follow 0012 in a line.

Revision ID: 0012
Revises: 0003, 0004, 0005, 0006, 0007, 0010, 0011
Create Date: 2026-11-23
"""
from __future__ import annotations

revision = '0012'
down_revision = ('0003', '0004', '0005', '0006', '0007', '0010', '0011')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
