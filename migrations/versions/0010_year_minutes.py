"""year minutes

Revision ID: 0010
Revises: 0001
Create Date: 2026-11-23

Minutes per volunteer per calendar year (`volunteer_year_minutes`), the cache that makes a
volunteer's "hours this year" one row read; backfilled from the postings already on the
volunteers' hours accounts (the year of each posting's business date).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0001'
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO volunteer_year_minutes (volunteer_id, year, minutes)
SELECT a.owner_id, {year}, SUM(p.amount)
FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.kind = 'volunteer_minutes'
GROUP BY a.owner_id, {year}
"""


def upgrade() -> None:
    op.create_table('volunteer_year_minutes',
    sa.Column('volunteer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('minutes', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('volunteer_id', 'year', name=op.f('pk_volunteer_year_minutes'))
    )
    if op.get_bind().dialect.name == "postgresql":
        year = "CAST(EXTRACT(YEAR FROM p.occurred_on) AS INTEGER)"
    else:
        year = "CAST(strftime('%Y', p.occurred_on) AS INTEGER)"
    op.execute(BACKFILL.format(year=year))


def downgrade() -> None:
    op.drop_table('volunteer_year_minutes')
