"""transactions partitioned by month of business date; ledger-wide keys in `transaction_keys`

On PostgreSQL `transactions` becomes `PARTITION BY RANGE (occurred_on)`, like `postings`
(revision 0013): one partition for each month `postings` has one for (so both tables are cut
alike) and for this month to three months ahead, and a DEFAULT partition for every other
date, so no transaction is ever refused for want of a partition.
A partitioned table can only keep unique keys that include its partition key, so its
primary key becomes (id, occurred_on), and what must stay unique across the whole ledger
moves to a plain table, `transaction_keys` (one row per transaction, written by `post` in
the same database transaction):

- `transaction_id` (primary key): what star events, transfers and transfer packages
  reference (their foreign keys now point here; the key row points at its transaction
  through (transaction_id, occurred_on), so each reference still reaches a real transaction);
- `idempotency_key` (unique): a retried write finds its first transaction here;
- `reverses_id` (unique, referencing a key row): nothing is reversed twice.

Postings reference their transaction through (transaction_id, occurred_on): a posting's
date is its transaction's (verify checks it, and the foreign key now enforces it).

On SQLite `transactions` stays a plain table with its unique keys and foreign keys, and
`transaction_keys` is added beside it, so the code is the same on both engines.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from migrations.helpers import drop_append_only, make_append_only

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INDEXES = {  # name -> columns, as in the plain table (and the model)
    "ix_transactions_occurred_on": "occurred_on",
    "ix_transactions_service_record_id": "service_record_id",
    "ix_transactions_volunteer": "volunteer_id, id",
    "ix_transactions_volunteer_date": "volunteer_id, occurred_on, id",
}
PLAIN_FKS = {  # constraint name -> definition, on the partitioned table as on the plain one
    "fk_transactions_policy_version_id_policy_versions": "(policy_version_id) REFERENCES policy_versions (id)",
    "fk_transactions_service_record_id_service_records": "(service_record_id) REFERENCES service_records (id)",
    "fk_transactions_unit_id_units": "(unit_id) REFERENCES units (id)",
    "fk_transactions_volunteer_id_volunteers": "(volunteer_id) REFERENCES volunteers (id)",
}
REFERRERS = {  # table -> foreign key from its transaction_id
    "star_events": "fk_star_events_transaction_id_transactions",
    "volunteer_transfers": "fk_volunteer_transfers_transaction_id_transactions",
    "transfer_packages": "fk_transfer_packages_transaction_id_transactions",
}


def _month(day: dt.date, months: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _is_partitioned(bind, table: str) -> bool:
    return bind.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace"), {"t": table}).first() is not None


def _create_keys_table(postgresql: bool) -> None:
    op.create_table(
        "transaction_keys",
        sa.Column("transaction_id", BigId, autoincrement=False, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("reverses_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_transaction_keys")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_transaction_keys_idempotency_key")),
        sa.ForeignKeyConstraint(["reverses_id"], ["transaction_keys.transaction_id"],
                                name=op.f("fk_transaction_keys_reverses_id_transaction_keys")),
        *([] if postgresql else [sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name=op.f("fk_transaction_keys_transaction_id_transactions"))]),
    )
    # nothing is reversed twice; a partial index: the many transactions that reverse nothing are not in it
    op.create_index("uq_transaction_keys_reverses_id", "transaction_keys", ["reverses_id"], unique=True,
                    postgresql_where=sa.text("reverses_id IS NOT NULL"),
                    sqlite_where=sa.text("reverses_id IS NOT NULL"))
    op.execute("INSERT INTO transaction_keys (transaction_id, idempotency_key, occurred_on, reverses_id) "
               "SELECT id, idempotency_key, occurred_on, reverses_id FROM transactions ORDER BY id")
    make_append_only("transaction_keys")


def _set_aside(suffix: str, unique: bool) -> None:
    """Rename the current table, its constraints and index names (index names are per schema)."""
    op.execute(f"ALTER TABLE transactions RENAME TO transactions_{suffix}")
    op.execute(f"ALTER TABLE transactions_{suffix} RENAME CONSTRAINT pk_transactions TO pk_transactions_{suffix}")
    for name in PLAIN_FKS:
        op.execute(f"ALTER TABLE transactions_{suffix} DROP CONSTRAINT {name}")
    if unique:
        for name in ("uq_transactions_idempotency_key", "uq_transactions_reverses_id"):
            op.execute(f"ALTER TABLE transactions_{suffix} DROP CONSTRAINT {name}")
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_{suffix}")
    op.execute(f"DROP TRIGGER IF EXISTS transactions_append_only ON transactions_{suffix}")
    op.execute(f"DROP TRIGGER IF EXISTS transactions_no_truncate ON transactions_{suffix}")


def _keys_and_indexes(primary_key: str) -> None:
    op.execute(f"ALTER TABLE transactions ADD CONSTRAINT pk_transactions PRIMARY KEY ({primary_key})")
    for name, definition in PLAIN_FKS.items():
        op.execute(f"ALTER TABLE transactions ADD CONSTRAINT {name} FOREIGN KEY {definition}")
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON transactions ({columns})")


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    if not sa.inspect(bind).has_table("transaction_keys"):  # else: a revision table set back by hand
        _create_keys_table(postgresql)
    if not postgresql or _is_partitioned(bind, "transactions"):
        return
    # everything that references transactions.id lets go of it first
    op.execute("ALTER TABLE postings DROP CONSTRAINT fk_postings_transaction_id_transactions")
    for table, name in REFERRERS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.execute("ALTER TABLE transactions DROP CONSTRAINT fk_transactions_reverses_id_transactions")
    _set_aside("plain", unique=True)
    op.execute("CREATE TABLE transactions (LIKE transactions_plain INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
               "PARTITION BY RANGE (occurred_on)")
    op.execute("ALTER SEQUENCE transactions_id_seq OWNED BY transactions.id")
    _keys_and_indexes("id, occurred_on")
    # the months postings has (revision 0013 and the job), so both tables are cut alike, and
    # this month to three ahead; a transaction of any other month goes to the DEFAULT partition,
    # as its postings did
    today = dt.date.today()
    months = {_month(today, n) for n in range(MONTHS_AHEAD + 1)}
    for name in bind.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'postings'::regclass")).scalars():
        if name.startswith("postings_y"):
            months.add(dt.date(int(name[10:14]), int(name[15:17]), 1))
    for month in sorted(months):
        op.execute(f"CREATE TABLE transactions_y{month.year:04d}m{month.month:02d} PARTITION OF transactions "
                   f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_month(month, 1).isoformat()}')")
    op.execute("CREATE TABLE transactions_default PARTITION OF transactions DEFAULT")
    op.execute("INSERT INTO transactions SELECT * FROM transactions_plain")
    op.execute("DROP TABLE transactions_plain")
    make_append_only("transactions")
    # the keys: a reversal names a key row; a key row, postings: their transaction and its month
    op.execute("ALTER TABLE transactions ADD CONSTRAINT fk_transactions_reverses_id_transaction_keys "
               "FOREIGN KEY (reverses_id) REFERENCES transaction_keys (transaction_id)")
    op.execute("ALTER TABLE transaction_keys ADD CONSTRAINT fk_transaction_keys_transaction "
               "FOREIGN KEY (transaction_id, occurred_on) REFERENCES transactions (id, occurred_on)")
    op.execute("ALTER TABLE postings ADD CONSTRAINT fk_postings_transaction "
               "FOREIGN KEY (transaction_id, occurred_on) REFERENCES transactions (id, occurred_on)")
    for table, name in REFERRERS.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name.removesuffix('transactions')}transaction_keys "
                   f"FOREIGN KEY (transaction_id) REFERENCES transaction_keys (transaction_id)")
    op.execute("ANALYZE transactions")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _is_partitioned(bind, "transactions"):
        op.execute("ALTER TABLE postings DROP CONSTRAINT fk_postings_transaction")
        for table, name in REFERRERS.items():
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name.removesuffix('transactions')}transaction_keys")
        op.execute("ALTER TABLE transaction_keys DROP CONSTRAINT fk_transaction_keys_transaction")
        op.execute("ALTER TABLE transactions DROP CONSTRAINT fk_transactions_reverses_id_transaction_keys")
        _set_aside("parted", unique=False)
        op.execute("CREATE TABLE transactions (LIKE transactions_parted INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        op.execute("ALTER SEQUENCE transactions_id_seq OWNED BY transactions.id")
        _keys_and_indexes("id")
        op.execute("ALTER TABLE transactions ADD CONSTRAINT uq_transactions_idempotency_key UNIQUE (idempotency_key)")
        op.execute("ALTER TABLE transactions ADD CONSTRAINT uq_transactions_reverses_id UNIQUE (reverses_id)")
        op.execute("INSERT INTO transactions SELECT * FROM transactions_parted ORDER BY id")
        op.execute("DROP TABLE transactions_parted CASCADE")
        make_append_only("transactions")
        op.execute("ALTER TABLE transactions ADD CONSTRAINT fk_transactions_reverses_id_transactions "
                   "FOREIGN KEY (reverses_id) REFERENCES transactions (id)")
        op.execute("ALTER TABLE postings ADD CONSTRAINT fk_postings_transaction_id_transactions "
                   "FOREIGN KEY (transaction_id) REFERENCES transactions (id)")
        for table, name in REFERRERS.items():
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (transaction_id) "
                       f"REFERENCES transactions (id)")
    drop_append_only("transaction_keys")
    op.drop_table("transaction_keys")
