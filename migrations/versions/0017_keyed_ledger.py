"""keyed ledger: signed checkpoints, and the zero-sum rule in PostgreSQL

Checkpoints get a kind ("seal", or "rehash": the content hashes made anew under a ledger
key, see `ledger rehash`), a note that says what a rehash did, and the deployment's Ed25519
signature of their fields.  The content hashes themselves become HMACs under the ledger key,
which the database never holds: this revision cannot compute them, so an existing ledger is
re-hashed once by `ledger rehash` (verify says so until it is done).

PostgreSQL: a deferred constraint trigger on postings refuses, at COMMIT, a transaction whose
postings do not sum to zero per unit of measure.  It is ENABLE ALWAYS: it fires under
`session_replication_role = replica` too, which the bulk path sets for its COPYs (that
setting skips the per-row foreign key checks it does itself, never this rule).  Postings of one
transaction are checked once: the trigger remembers, for the rest of the database
transaction, the last transaction it checked (the postings of a transaction come together).

Revision ID: 0017
Revises: 0021
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0021"
branch_labels = None
depends_on = None

BALANCED_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_postings_balanced() RETURNS trigger AS $$
DECLARE
    unbalanced record;
BEGIN
    IF current_setting('ledger.balanced_tx', true) = NEW.transaction_id::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('ledger.balanced_tx', NEW.transaction_id::text, true);
    SELECT uom, sum(amount) AS total INTO unbalanced FROM postings
     WHERE transaction_id = NEW.transaction_id AND occurred_on = NEW.occurred_on
     GROUP BY uom HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transaction % does not balance: its % postings sum to %, not 0',
            NEW.transaction_id, unbalanced.uom, unbalanced.total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    bind = op.get_bind()
    present = {column["name"] for column in sa.inspect(bind).get_columns("checkpoints")}
    # plain ADD COLUMN on both engines (no table copy: the append-only triggers stay); a database
    # whose revision table was set back by hand already has them
    for column in (sa.Column("kind", sa.String(length=10), server_default="seal", nullable=False),
                   sa.Column("note", sa.Text(), server_default="", nullable=False),
                   sa.Column("signature", sa.String(length=100), nullable=True)):
        if column.name not in present:
            op.add_column("checkpoints", column)
    if bind.dialect.name != "postgresql":
        return
    op.execute(BALANCED_FUNCTION)
    op.execute("DROP TRIGGER IF EXISTS postings_balanced ON postings")
    op.execute("CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_postings_balanced()")
    op.execute("ALTER TABLE postings ENABLE ALWAYS TRIGGER postings_balanced")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS postings_balanced ON postings")
        op.execute("DROP FUNCTION IF EXISTS ledger_postings_balanced()")
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("signature")
        batch.drop_column("note")
        batch.drop_column("kind")
