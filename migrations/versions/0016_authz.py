"""authz: who made a user, whose an idempotency key is, and one lock row per sign-in subject

- users.created_by: the user who made this one; the two-person rule refuses an approver the
  submitter made (NULL for users made by the system or before this revision).
- idempotency_keys.principal: the principal whose write the key holds ("user:<id>" or the
  system's name); a replay is returned only to them (NULL for keys before this revision,
  which are then returned to nobody).
- sign_in_guards: a row per volunteer number and per client address; a sign-in attempt
  upserts its two rows first, which serialises the attempts on one subject.

Revision ID: 0016
Revises: 0018
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0018"
branch_labels = None
depends_on = None


# Plain columns, added and dropped in place (SQLite ≥ 3.35 too): recreating `users` in batch
# mode would drop a table other tables' foreign keys point at.  created_by names a user id
# without a foreign key, as desk_id does; users are never deleted.


def upgrade() -> None:
    # each step only when not there yet (tests rewind alembic_version over a newer schema)
    inspector = sa.inspect(op.get_bind())
    if "created_by" not in {c["name"] for c in inspector.get_columns("users")}:
        op.add_column("users", sa.Column("created_by", sa.Integer(), nullable=True))
    if "principal" not in {c["name"] for c in inspector.get_columns("idempotency_keys")}:
        op.add_column("idempotency_keys", sa.Column("principal", sa.String(length=120), nullable=True))
    if not inspector.has_table("sign_in_guards"):
        op.create_table(
            "sign_in_guards",
            sa.Column("subject", sa.String(length=120), nullable=False),
            sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("subject", name=op.f("pk_sign_in_guards")),
        )


def downgrade() -> None:
    op.drop_table("sign_in_guards")
    op.drop_column("idempotency_keys", "principal")
    op.drop_column("users", "created_by")
