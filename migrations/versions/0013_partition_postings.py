"""postings partitioned by month of business date (PostgreSQL declarative partitioning)

`postings` is the ledger's largest table (four rows per service record) and append-only:
old months never change.  On PostgreSQL it becomes `PARTITION BY RANGE (occurred_on)`, one
partition per month from the oldest posting's month to three months ahead, and a DEFAULT
partition that takes a back-dated posting older than the first month (a 台账 import of
old records), so no posting is ever refused for want of a partition.  The scheduled job
`create_partitions` (jobs/partitions.py) creates each month three months ahead.

What partitioning forces: the primary key becomes (id, occurred_on) — ids still come from
the same sequence, so they stay unique.  Nothing references a posting, and the foreign keys
from postings to transactions and accounts, the CHECKs, the indexes and the append-only
triggers are the same (PostgreSQL clones them onto every partition).  `transactions` stays
a plain table for now: its idempotency key and `reverses_id` are unique across the whole
ledger, which a partitioned table can only keep through a separate key table
(docs/scaling.md).  On SQLite this revision does nothing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""
from __future__ import annotations

import datetime as dt

from alembic import op
from sqlalchemy import text

from migrations.helpers import make_append_only

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3
INDEXES = {  # name -> columns, as in the plain table (and the model)
    "ix_postings_account": "account_id, id",
    "ix_postings_transaction_id": "transaction_id",
    "ix_postings_unit_date": "unit_id, occurred_on",
    "ix_postings_volunteer_date": "volunteer_id, occurred_on",
}


def _month(day: dt.date, months: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _set_aside(suffix: str) -> None:
    """Rename the current table and its index names (index names are per schema)."""
    op.execute(f"ALTER TABLE postings RENAME TO postings_{suffix}")
    op.execute(f"ALTER TABLE postings_{suffix} RENAME CONSTRAINT pk_postings TO pk_postings_{suffix}")
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_{suffix}")
    op.execute(f"DROP TRIGGER IF EXISTS postings_append_only ON postings_{suffix}")
    op.execute(f"DROP TRIGGER IF EXISTS postings_no_truncate ON postings_{suffix}")


def _keys_and_indexes(primary_key: str) -> None:
    op.execute(f"ALTER TABLE postings ADD CONSTRAINT pk_postings PRIMARY KEY ({primary_key})")
    op.execute("ALTER TABLE postings ADD CONSTRAINT fk_postings_transaction_id_transactions "
               "FOREIGN KEY (transaction_id) REFERENCES transactions (id)")
    op.execute("ALTER TABLE postings ADD CONSTRAINT fk_postings_account_id_accounts "
               "FOREIGN KEY (account_id) REFERENCES accounts (id)")
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON postings ({columns})")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.execute(text("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                         "WHERE c.relname = 'postings' AND c.relnamespace = current_schema()::regnamespace")).first():
        return  # already partitioned (a database whose revision table was set back by hand)
    _set_aside("plain")
    op.execute("CREATE TABLE postings (LIKE postings_plain INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
               "PARTITION BY RANGE (occurred_on)")
    op.execute("ALTER SEQUENCE postings_id_seq OWNED BY postings.id")
    _keys_and_indexes("id, occurred_on")
    oldest = bind.execute(text("SELECT min(occurred_on) FROM postings_plain")).scalar()
    today = dt.date.today()
    month, last = _month(min(oldest, today) if oldest else today), _month(today, MONTHS_AHEAD)
    while month <= last:
        op.execute(f"CREATE TABLE postings_y{month.year:04d}m{month.month:02d} PARTITION OF postings "
                   f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_month(month, 1).isoformat()}')")
        month = _month(month, 1)
    op.execute("CREATE TABLE postings_default PARTITION OF postings DEFAULT")
    op.execute("INSERT INTO postings SELECT * FROM postings_plain")
    op.execute("DROP TABLE postings_plain")
    make_append_only("postings")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _set_aside("parted")
    op.execute("CREATE TABLE postings (LIKE postings_parted INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute("ALTER SEQUENCE postings_id_seq OWNED BY postings.id")
    _keys_and_indexes("id")
    op.execute("INSERT INTO postings SELECT * FROM postings_parted ORDER BY id")
    op.execute("DROP TABLE postings_parted CASCADE")
    make_append_only("postings")
