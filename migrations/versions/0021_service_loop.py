"""service_loop

The service loop: orders (点单) and their append-only events (派单, 接单, 评单, 投诉), recruitments
and sign-ups (招募/报名), attendance scans (签到/签退, append-only) and their flags, and
applications to join from the phone (实名注册).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import drop_append_only, make_append_only

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

APPEND_ONLY = ('service_orders', 'order_events', 'attendance_scans')


def upgrade() -> None:
    op.create_table('service_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.String(length=1000), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('wanted_at', sa.DateTime(), nullable=False),
    sa.Column('contact_name', sa.String(length=100), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.Column('phone_masked', sa.String(length=40), nullable=False),
    sa.Column('challenge_hash', sa.String(length=64), nullable=True),
    sa.Column('client_hash', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_service_orders_created_by_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_service_orders_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_orders')),
    sa.UniqueConstraint('challenge_hash', name=op.f('uq_service_orders_challenge_hash'))
    )
    op.create_index('ix_service_orders_client_created', 'service_orders', ['client_hash', 'created_at'], unique=False)
    op.create_index('ix_service_orders_phone_created', 'service_orders', ['phone_hash', 'created_at'], unique=False)
    op.create_index(op.f('ix_service_orders_unit_id'), 'service_orders', ['unit_id'], unique=False)

    op.create_table('volunteer_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('id_masked', sa.String(length=40), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=True),
    sa.Column('phone_masked', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=400), nullable=True),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('pending','confirmed','refused')", name=op.f('ck_volunteer_applications_status')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_volunteer_applications_decided_by_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_volunteer_applications_unit_id_units')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_volunteer_applications_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_applications'))
    )
    op.create_index('ix_volunteer_applications_client_at', 'volunteer_applications', ['client_hash', 'applied_at'], unique=False)
    op.create_index('ix_volunteer_applications_unit_status', 'volunteer_applications', ['unit_id', 'status'], unique=False)
    op.create_index('uq_volunteer_applications_pending', 'volunteer_applications', ['id_hash'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.create_table('attendance_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.String(length=400), nullable=False),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=100), nullable=True),
    sa.CheckConstraint("kind IN ('missing_sign_out','impossible_span','overlap')", name=op.f('ck_attendance_flags_kind')),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_attendance_flags_activity_id_activities')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_attendance_flags_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_flags')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', 'kind', name='uq_attendance_flags_once')
    )
    op.create_index(op.f('ix_attendance_flags_activity_id'), 'attendance_flags', ['activity_id'], unique=False)

    op.create_table('attendance_scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("direction IN ('in','out')", name=op.f('ck_attendance_scans_direction')),
    sa.CheckConstraint("method IN ('scan','manual')", name=op.f('ck_attendance_scans_method')),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_attendance_scans_activity_id_activities')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_attendance_scans_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_scans')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', 'direction', name='uq_attendance_scans_once')
    )
    op.create_index(op.f('ix_attendance_scans_volunteer_id'), 'attendance_scans', ['volunteer_id'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('target_unit_id', sa.Integer(), nullable=True),
    sa.Column('target_team_id', sa.Integer(), nullable=True),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('upheld', sa.Boolean(), nullable=True),
    sa.Column('reason', sa.String(length=400), nullable=False),
    sa.CheckConstraint("kind IN ('submitted','dispatched','declined','taken','overdue','completed','rated','complained','complaint_resolved','cancelled')", name=op.f('ck_order_events_kind')),
    sa.CheckConstraint('rating IS NULL OR (rating BETWEEN 1 AND 5)', name=op.f('ck_order_events_rating')),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_order_events_activity_id_activities')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_order_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['service_orders.id'], name=op.f('fk_order_events_order_id_service_orders')),
    sa.ForeignKeyConstraint(['target_team_id'], ['teams.id'], name=op.f('fk_order_events_target_team_id_teams')),
    sa.ForeignKeyConstraint(['target_unit_id'], ['units.id'], name=op.f('fk_order_events_target_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    op.create_index('ix_order_events_kind_at', 'order_events', ['kind', 'at'], unique=False)
    op.create_index('ix_order_events_order', 'order_events', ['order_id', 'id'], unique=False)

    op.create_table('recruitments',
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('team_ids', sa.JSON(), nullable=False),
    sa.Column('requires_signup', sa.Boolean(), nullable=False),
    sa.Column('published_by', sa.Integer(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quota > 0', name=op.f('ck_recruitments_quota')),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_recruitments_activity_id_activities')),
    sa.ForeignKeyConstraint(['published_by'], ['users.id'], name=op.f('fk_recruitments_published_by_users')),
    sa.PrimaryKeyConstraint('activity_id', name=op.f('pk_recruitments'))
    )
    op.create_table('signups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('signed_up_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['recruitments.activity_id'], name=op.f('fk_signups_activity_id_recruitments')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_signups_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signups'))
    )
    op.create_index('ix_signups_volunteer', 'signups', ['volunteer_id'], unique=False)
    op.create_index('uq_signups_active', 'signups', ['activity_id', 'volunteer_id'], unique=True, sqlite_where=sa.text('cancelled_at IS NULL'), postgresql_where=sa.text('cancelled_at IS NULL'))
    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    for table in ('signups', 'recruitments', 'order_events', 'attendance_scans', 'attendance_flags',
                  'volunteer_applications', 'service_orders'):
        op.drop_table(table)  # their indexes go with them
