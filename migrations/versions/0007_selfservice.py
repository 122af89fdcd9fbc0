"""selfservice

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-24

Volunteer self-service: sign-in codes (only keyed hashes), sign-in attempts (for limits
and lock-out), and the append-only registry of issued certificates (志愿服务证明).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import drop_append_only, make_append_only

revision = '0007'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_by', sa.String(length=100), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('code','pin')", name=op.f('ck_sign_in_codes_kind')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_sign_in_codes_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_codes'))
    )
    op.create_index('ix_sign_in_codes_volunteer_kind', 'sign_in_codes', ['volunteer_id', 'kind'])
    op.create_table('sign_in_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('volunteer_number', sa.String(length=40), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_attempts'))
    )
    op.create_index('ix_sign_in_attempts_number_at', 'sign_in_attempts', ['volunteer_number', 'at'])
    op.create_index('ix_sign_in_attempts_address_at', 'sign_in_attempts', ['client_address', 'at'])
    op.create_table('certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('period_from', sa.Date(), nullable=False),
    sa.Column('period_to', sa.Date(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.String(length=100), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('verification_code', sa.String(length=40), nullable=False),
    sa.CheckConstraint('minutes > 0', name=op.f('ck_certificates_minutes')),
    sa.CheckConstraint('period_to >= period_from', name=op.f('ck_certificates_period')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_certificates_unit_id_units')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_certificates_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('number', name=op.f('uq_certificates_number'))
    )
    op.create_index('ix_certificates_volunteer', 'certificates', ['volunteer_id', 'id'])
    make_append_only('certificates')


def downgrade() -> None:
    drop_append_only('certificates')
    op.drop_index('ix_certificates_volunteer', table_name='certificates')
    op.drop_table('certificates')
    op.drop_index('ix_sign_in_attempts_address_at', table_name='sign_in_attempts')
    op.drop_index('ix_sign_in_attempts_number_at', table_name='sign_in_attempts')
    op.drop_table('sign_in_attempts')
    op.drop_index('ix_sign_in_codes_volunteer_kind', table_name='sign_in_codes')
    op.drop_table('sign_in_codes')
