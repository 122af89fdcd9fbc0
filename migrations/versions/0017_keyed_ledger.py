"""keyed ledger: signed checkpoints, and the zero-sum rule in PostgreSQL

Checkpoints get a kind ("seal", or "rehash": the content hashes made anew under a ledger
key, see `ledger rehash`), a note that says what a rehash did, and the deployment's Ed25519
signature of their fields.  The content hashes themselves become HMACs under the ledger key,
which the database never holds: this revision cannot compute them, so an existing ledger is
re-hashed once by `ledger rehash` (verify says so until it is done).

PostgreSQL: a deferred constraint trigger on postings refuses, at COMMIT, a transaction whose
postings do not sum to zero per unit of measure.  Both triggers below are ENABLE ALWAYS: they
fire under `session_replication_role = replica` too, which the bulk path sets for its COPYs
(that setting skips the per-row foreign key checks it does itself, never this rule).  So that
a batch of 50,000 transactions is not 50,000 keyed reads of a partitioned table at COMMIT, a
statement trigger sums what each INSERT or COPY inserted (its transition table) and only the
transactions a statement leaves unbalanced are read again at COMMIT, whole.  The rule guards
against the code's mistakes: a session that wants to break it can (it could drop the trigger
as the tables' owner), and `verify` checks every transaction's balance anyway.

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

# After each INSERT statement: the sums per transaction and unit of measure of the rows it
# inserted (its transition table, no read of the table).  A transaction the statement leaves
# unbalanced by its own rows is remembered for this database transaction; one it leaves
# balanced is as balanced as before (every committed transaction balances, by this rule).
STATEMENT_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_postings_statement_sums() RETURNS trigger AS $$
DECLARE
    unbalanced text;
BEGIN
    SELECT string_agg(DISTINCT transaction_id::text || '/' || occurred_on::text, ',') INTO unbalanced
      FROM (SELECT transaction_id, occurred_on FROM inserted
            GROUP BY transaction_id, occurred_on, uom HAVING sum(amount) <> 0) AS sums;
    IF unbalanced IS NOT NULL THEN
        PERFORM set_config('ledger.unbalanced', concat_ws(',',
            nullif(current_setting('ledger.unbalanced', true), ''), unbalanced), true);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

# At COMMIT (deferred; a row event each, a no-op unless a statement left something to check):
# each remembered transaction, all its postings, must sum to zero per unit of measure.
BALANCED_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_postings_balanced() RETURNS trigger AS $$
DECLARE
    remembered text := current_setting('ledger.unbalanced', true);
    item text;
    found_row record;
BEGIN
    IF remembered IS NULL OR remembered = '' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('ledger.unbalanced', '', true);
    FOREACH item IN ARRAY string_to_array(remembered, ',') LOOP
        SELECT transaction_id, uom, sum(amount) AS total INTO found_row FROM postings
         WHERE transaction_id = split_part(item, '/', 1)::bigint
           AND occurred_on = split_part(item, '/', 2)::date
         GROUP BY transaction_id, uom HAVING sum(amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'transaction % does not balance: its % postings sum to %, not 0',
                found_row.transaction_id, found_row.uom, found_row.total USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
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
    op.execute(STATEMENT_FUNCTION)
    op.execute(BALANCED_FUNCTION)
    op.execute("DROP TRIGGER IF EXISTS postings_statement_sums ON postings")
    op.execute("DROP TRIGGER IF EXISTS postings_balanced ON postings")
    op.execute("CREATE TRIGGER postings_statement_sums AFTER INSERT ON postings REFERENCING NEW TABLE AS inserted "
               "FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_statement_sums()")
    op.execute("CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_postings_balanced()")
    for trigger in ("postings_statement_sums", "postings_balanced"):
        op.execute(f"ALTER TABLE postings ENABLE ALWAYS TRIGGER {trigger}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS postings_balanced ON postings")
        op.execute("DROP TRIGGER IF EXISTS postings_statement_sums ON postings")
        op.execute("DROP FUNCTION IF EXISTS ledger_postings_balanced()")
        op.execute("DROP FUNCTION IF EXISTS ledger_postings_statement_sums()")
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("signature")
        batch.drop_column("note")
        batch.drop_column("kind")
