"""policies

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23

Adjustment runs (追溯调整) of the incentive policies and their per-record lines.
Policy versions themselves live in the append-only `policy_versions` table of 0001.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_adjustment_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('period_from', sa.Date(), nullable=False),
    sa.Column('period_to', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('volunteers', sa.Integer(), nullable=False),
    sa.Column('points_difference', sa.BigInteger(), nullable=False),
    sa.Column('ledger_position', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by', sa.String(length=100), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.CheckConstraint("status IN ('computed','confirmed')", name=op.f('ck_policy_adjustment_runs_status')),
    sa.CheckConstraint('period_to >= period_from', name=op.f('ck_policy_adjustment_runs_period')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_policy_adjustment_runs_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_adjustment_runs'))
    )
    with op.batch_alter_table('policy_adjustment_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_adjustment_runs_unit_id'), ['unit_id'], unique=False)

    op.create_table('policy_adjustment_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('service_record_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('policy_version_id', sa.Integer(), nullable=True),
    sa.Column('points_before', sa.BigInteger(), nullable=False),
    sa.Column('points_after', sa.BigInteger(), nullable=False),
    sa.Column('difference', sa.BigInteger(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['policy_adjustment_runs.id'], name=op.f('fk_policy_adjustment_lines_run_id_policy_adjustment_runs')),
    sa.ForeignKeyConstraint(['service_record_id'], ['service_records.id'], name=op.f('fk_policy_adjustment_lines_service_record_id_service_records')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_policy_adjustment_lines_volunteer_id_volunteers')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_policy_adjustment_lines_unit_id_units')),
    sa.ForeignKeyConstraint(['policy_version_id'], ['policy_versions.id'], name=op.f('fk_policy_adjustment_lines_policy_version_id_policy_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_adjustment_lines'))
    )
    with op.batch_alter_table('policy_adjustment_lines', schema=None) as batch_op:
        batch_op.create_index('ix_policy_adjustment_lines_run_volunteer', ['run_id', 'volunteer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('policy_adjustment_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_policy_adjustment_lines_run_volunteer')
    op.drop_table('policy_adjustment_lines')
    with op.batch_alter_table('policy_adjustment_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_adjustment_runs_unit_id'))
    op.drop_table('policy_adjustment_runs')
