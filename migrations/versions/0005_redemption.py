"""redemption

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23

Redemption desks (积分兑换点 / 爱心超市): desks, catalogue items with cached stock,
append-only stock movements, receipts and reservations with their lines.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import drop_append_only, make_append_only

revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('desks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('opening_weekdays', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_desks_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desks')),
    sa.UniqueConstraint('code', name=op.f('uq_desks_code'))
    )
    with op.batch_alter_table('desks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desks_unit_id'), ['unit_id'], unique=False)

    op.create_table('desk_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('unit_label', sa.String(length=20), nullable=False),
    sa.Column('price_points', sa.Integer(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.Column('limit_quantity', sa.Integer(), nullable=True),
    sa.Column('limit_period', sa.String(length=10), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('goods','service')", name=op.f('ck_desk_items_kind')),
    sa.CheckConstraint("limit_period IS NULL OR limit_period IN ('day','week','month','year')", name=op.f('ck_desk_items_limit_period')),
    sa.CheckConstraint('limit_quantity IS NULL OR limit_quantity > 0', name=op.f('ck_desk_items_limit_quantity')),
    sa.CheckConstraint('price_points > 0', name=op.f('ck_desk_items_price')),
    sa.CheckConstraint('stock >= 0', name=op.f('ck_desk_items_stock_non_negative')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_desk_items_desk_id_desks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_items')),
    sa.UniqueConstraint('desk_id', 'name', name='uq_desk_items_desk_name')
    )
    with op.batch_alter_table('desk_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desk_items_desk_id'), ['desk_id'], unique=False)

    op.create_table('redemption_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('operator', sa.String(length=100), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('cancelled_by', sa.String(length=100), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.String(length=400), nullable=True),
    sa.Column('cancel_transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('posted','cancelled')", name=op.f('ck_redemption_receipts_status')),
    sa.CheckConstraint('points > 0', name=op.f('ck_redemption_receipts_points')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_redemption_receipts_desk_id_desks')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_redemption_receipts_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_receipts')),
    sa.UniqueConstraint('number', name=op.f('uq_redemption_receipts_number'))
    )
    with op.batch_alter_table('redemption_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_redemption_receipts_desk', ['desk_id', 'occurred_on'], unique=False)
        batch_op.create_index('ix_redemption_receipts_volunteer', ['volunteer_id', 'occurred_on'], unique=False)

    op.create_table('reservations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('pickup_on', sa.Date(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('release_transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('receipt_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('held','picked_up','released','cancelled')", name=op.f('ck_reservations_status')),
    sa.CheckConstraint('points > 0', name=op.f('ck_reservations_points')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_reservations_desk_id_desks')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_reservations_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations'))
    )
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservations_desk_id'), ['desk_id'], unique=False)
        batch_op.create_index('ix_reservations_status_pickup', ['status', 'pickup_on'], unique=False)
        batch_op.create_index('ix_reservations_volunteer', ['volunteer_id'], unique=False)

    op.create_table('redemption_receipt_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('item_name', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_redemption_receipt_lines_quantity')),
    sa.ForeignKeyConstraint(['item_id'], ['desk_items.id'], name=op.f('fk_redemption_receipt_lines_item_id_desk_items')),
    sa.ForeignKeyConstraint(['receipt_id'], ['redemption_receipts.id'], name=op.f('fk_redemption_receipt_lines_receipt_id_redemption_receipts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_receipt_lines'))
    )
    with op.batch_alter_table('redemption_receipt_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redemption_receipt_lines_receipt_id'), ['receipt_id'], unique=False)

    op.create_table('reservation_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('item_name', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_reservation_lines_quantity')),
    sa.ForeignKeyConstraint(['item_id'], ['desk_items.id'], name=op.f('fk_reservation_lines_item_id_desk_items')),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], name=op.f('fk_reservation_lines_reservation_id_reservations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation_lines'))
    )
    with op.batch_alter_table('reservation_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservation_lines_reservation_id'), ['reservation_id'], unique=False)

    op.create_table('stock_movements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('desk_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('stock_after', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=400), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=True),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('receive','adjust','redeem','cancel','reserve','release')", name=op.f('ck_stock_movements_kind')),
    sa.CheckConstraint('quantity <> 0', name=op.f('ck_stock_movements_nonzero')),
    sa.CheckConstraint('stock_after >= 0', name=op.f('ck_stock_movements_stock_after')),
    sa.ForeignKeyConstraint(['desk_id'], ['desks.id'], name=op.f('fk_stock_movements_desk_id_desks')),
    sa.ForeignKeyConstraint(['item_id'], ['desk_items.id'], name=op.f('fk_stock_movements_item_id_desk_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements'))
    )
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.create_index('ix_stock_movements_desk_date', ['desk_id', 'occurred_on'], unique=False)
        batch_op.create_index('ix_stock_movements_item', ['item_id', 'id'], unique=False)

    make_append_only("stock_movements")


def downgrade() -> None:
    drop_append_only("stock_movements")
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_movements_item')
        batch_op.drop_index('ix_stock_movements_desk_date')

    op.drop_table('stock_movements')
    with op.batch_alter_table('reservation_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservation_lines_reservation_id'))

    op.drop_table('reservation_lines')
    with op.batch_alter_table('redemption_receipt_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemption_receipt_lines_receipt_id'))

    op.drop_table('redemption_receipt_lines')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_reservations_volunteer')
        batch_op.drop_index('ix_reservations_status_pickup')
        batch_op.drop_index(batch_op.f('ix_reservations_desk_id'))

    op.drop_table('reservations')
    with op.batch_alter_table('redemption_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_redemption_receipts_volunteer')
        batch_op.drop_index('ix_redemption_receipts_desk')

    op.drop_table('redemption_receipts')
    with op.batch_alter_table('desk_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desk_items_desk_id'))

    op.drop_table('desk_items')
    with op.batch_alter_table('desks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desks_unit_id'))

    op.drop_table('desks')
