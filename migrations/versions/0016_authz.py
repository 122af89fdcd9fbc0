"""authz: who made a user, whose an idempotency key is, and one lock row per sign-in subject

- users.created_by: the user who made this one; the two-person rule refuses an approver the
  submitter made (NULL for users made by the system or before this revision).
- idempotency_keys.principal: the principal whose write the key holds ("user:<id>" or the
  system's name); a replay is returned only to them (NULL for keys before this revision,
  which are then returned to nobody).
- sign_in_guards: a row per volunteer number and per client address; a sign-in attempt
  upserts its two rows first, which serialises the attempts on one subject.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_users_created_by_users"), "users", ["created_by"], ["id"])
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("principal", sa.String(length=120), nullable=True))
    op.create_table(
        "sign_in_guards",
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_sign_in_guards")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_guards")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("principal")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_created_by_users"), type_="foreignkey")
        batch_op.drop_column("created_by")
