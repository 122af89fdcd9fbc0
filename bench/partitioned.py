"""The partitioned variant of the ledger (PostgreSQL declarative partitioning), side by side.

`create_partitioned_ledger` builds, in a schema of its own, `transactions` and `postings`
partitioned by month of business date (range on `occurred_on`), with the keys that
partitioning forces: primary keys (id, occurred_on); the foreign key from postings to their
transaction on (transaction_id, occurred_on); and the idempotency key, which can no longer
be unique on a partitioned table that is not partitioned by it, kept unique in a plain
table `transaction_keys` written in the same database transaction.  A reversal's key
("reverse:<id>") is an idempotency key, so "nothing is reversed twice" still holds there.
Append-only triggers are the same.  `jobs/partitions.py` creates the months ahead.

`measure` copies the bench ledger into it and compares the hot queries with the plain
schema.  See docs/scaling.md for why this is a migration path, not yet the main schema.
"""
from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import text

from jobs.partitions import ensure_partitions, month_start
from ledger.uow import Context

SCHEMA = "partitioned"


def create_partitioned_ledger(conn, schema: str = SCHEMA) -> None:
    """Create the partitioned `transactions`, `postings` and `transaction_keys` in `schema`."""
    for statement in f"""
        CREATE SCHEMA IF NOT EXISTS {schema};
        CREATE TABLE {schema}.transactions (LIKE public.transactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
            PARTITION BY RANGE (occurred_on);
        ALTER TABLE {schema}.transactions ADD CONSTRAINT pk_transactions PRIMARY KEY (id, occurred_on);
        CREATE INDEX ix_transactions_volunteer ON {schema}.transactions (volunteer_id, id);
        CREATE INDEX ix_transactions_service_record_id ON {schema}.transactions (service_record_id);
        CREATE TABLE {schema}.transaction_keys (
            idempotency_key varchar(200) CONSTRAINT pk_transaction_keys PRIMARY KEY,
            transaction_id bigint NOT NULL, occurred_on date NOT NULL);
        CREATE TABLE {schema}.postings (LIKE public.postings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
            PARTITION BY RANGE (occurred_on);
        ALTER TABLE {schema}.postings ADD CONSTRAINT pk_postings PRIMARY KEY (id, occurred_on);
        ALTER TABLE {schema}.postings ADD CONSTRAINT fk_postings_transaction
            FOREIGN KEY (transaction_id, occurred_on) REFERENCES {schema}.transactions (id, occurred_on);
        ALTER TABLE {schema}.postings ADD CONSTRAINT fk_postings_account_id_accounts
            FOREIGN KEY (account_id) REFERENCES public.accounts (id);
        CREATE INDEX ix_postings_account ON {schema}.postings (account_id, id);
        CREATE INDEX ix_postings_volunteer_date ON {schema}.postings (volunteer_id, occurred_on);
        CREATE INDEX ix_postings_unit_date ON {schema}.postings (unit_id, occurred_on);
        CREATE INDEX ix_postings_transaction_id ON {schema}.postings (transaction_id);
        CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON {schema}.transactions
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON {schema}.postings
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER transaction_keys_append_only BEFORE UPDATE OR DELETE ON {schema}.transaction_keys
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """.split(";"):
        conn.execute(text(statement))


def _timed(conn, sql: str, params: dict | None = None, repeat: int = 1) -> tuple[float, object]:
    best, value = None, None
    for _ in range(repeat):
        started = time.perf_counter()
        value = conn.execute(text(sql), params or {}).all()
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    return best, value


def measure(ctx: Context, url: str, data) -> dict:
    """Copy the ledger into the partitioned variant; compare the hot queries with the plain one."""
    result: dict = {"schema": SCHEMA}
    with ctx.engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        create_partitioned_ledger(conn)
        first = conn.execute(text("SELECT min(occurred_on) FROM public.transactions")).scalar_one()
        conn.execute(text(f"SET LOCAL search_path = {SCHEMA}, public"))
    with ctx.uow() as uow:  # what the scheduled job does, from the oldest month to 3 months ahead
        made = ensure_partitions(uow.session, first, month_start(dt.date.today(), 3), SCHEMA)
        uow.commit()
    result["partitions_created"] = len(made)
    with ctx.engine.begin() as conn:
        started = time.perf_counter()
        conn.execute(text(f"INSERT INTO {SCHEMA}.transactions SELECT * FROM public.transactions"))
        conn.execute(text(f"INSERT INTO {SCHEMA}.transaction_keys SELECT idempotency_key, id, occurred_on "
                          f"FROM public.transactions"))
        rows = conn.execute(text(f"INSERT INTO {SCHEMA}.postings SELECT * FROM public.postings")).rowcount
        seconds = time.perf_counter() - started
        result["copied"] = {"postings": rows, "seconds": round(seconds, 2),
                            "postings_per_s_with_transactions": round(rows / seconds)}
    with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ANALYZE {SCHEMA}.transactions"))
        conn.execute(text(f"ANALYZE {SCHEMA}.postings"))
    volunteer = data.long_volunteer_id
    queries = {
        "year_group_by": ("SELECT volunteer_id, uom, sum(amount) FROM {s}.postings WHERE occurred_on >= "
                          "'2025-01-01' AND occurred_on < '2026-01-01' GROUP BY volunteer_id, uom", {}),
        "month_of_one_unit": ("SELECT volunteer_id, sum(amount) FROM {s}.postings WHERE unit_id = :u AND "
                              "occurred_on >= '2025-06-01' AND occurred_on < '2025-07-01' GROUP BY volunteer_id",
                              {"u": data.stations[0]}),
        "history_page_long_history": ("SELECT id FROM {s}.transactions WHERE volunteer_id = :v ORDER BY id DESC "
                                      "LIMIT 51", {"v": volunteer}),
        "year_minutes_long_history": ("SELECT sum(amount) FROM {s}.postings WHERE volunteer_id = :v AND uom = 'MIN' "
                                      "AND occurred_on >= '2025-01-01' AND occurred_on < '2026-01-01'", {"v": volunteer}),
    }
    compared = {}
    with ctx.engine.connect() as conn:
        for name, (sql, params) in queries.items():
            plain, _ = _timed(conn, sql.format(s="public"), params, repeat=3)
            parted, _ = _timed(conn, sql.format(s=SCHEMA), params, repeat=3)
            compared[name] = {"plain_ms": round(plain * 1000, 2), "partitioned_ms": round(parted * 1000, 2)}
    result["queries"] = compared
    return result
