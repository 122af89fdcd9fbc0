"""How the batch path (`service.bulk`) writes its plan: one COPY (or executemany) per table.

Records, transactions, their keys, postings and star events go in as rows built in memory;
then the balances of every account posted to (one UPDATE), then the hours per year.  The
order of locks is that of `book.postings.post`, so that a batch and single postings never
deadlock each other.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.book.postings import add_year_minutes
from ledger.store.batch import column_types, copy_rows, driver_cursor, int_array

RECORD_COLUMNS = ("id", "volunteer_id", "activity_id", "unit_id", "started_at", "ended_at", "minutes",
                  "service_kind", "recorded_by", "confirmed_by", "status", "approved_by", "decided_at",
                  "complaint_upheld", "transaction_id", "source", "created_at")
TX_COLUMNS = ("id", "kind", "idempotency_key", "occurred_on", "recorded_at", "actor", "volunteer_id",
              "unit_id", "policy_version_id", "reverses_id", "service_record_id", "memo", "content_hash")
KEY_COLUMNS = ("transaction_id", "idempotency_key", "occurred_on", "reverses_id")
POSTING_COLUMNS = ("transaction_id", "account_id", "uom", "amount", "volunteer_id", "unit_id", "occurred_on")
STAR_COLUMNS = ("volunteer_id", "occurred_on", "level_before", "level_after", "transaction_id",
                "policy_version_id", "reason", "created_at")


def write_plan(session: Session, plan, by_batch: bool = False) -> None:
    """Write the plan: records, transactions, postings, star events, then balances."""
    tables = (("service_records", RECORD_COLUMNS, plan.records), ("transactions", TX_COLUMNS, plan.transactions),
              ("transaction_keys", KEY_COLUMNS, plan.keys), ("postings", POSTING_COLUMNS, plan.postings),
              ("star_events", STAR_COLUMNS, plan.star_events))
    items = sorted((account, amount) for account, amount in plan.deltas.items() if amount)
    if session.get_bind().dialect.name == "sqlite":
        for table, columns, rows in tables:
            copy_rows(session, table, columns, rows)
        if items:
            session.execute(text("UPDATE accounts SET balance = balance + :amount WHERE id = :id"),
                            [{"id": account, "amount": amount} for account, amount in items])
        add_year_minutes(session, plan.year_minutes)
        return
    types = column_types(session, [(table, columns) for table, columns, _rows in tables])
    with driver_cursor(session) as cursor:
        if by_batch:  # the keys were checked (and their rows locked) once each: see the module's note
            cursor.execute("SET LOCAL session_replication_role = replica")
        for table, columns, rows in tables:
            if rows:
                # binary: the driver packs the tuples in C, the server parses no text
                with cursor.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types[table])
                    for row in rows:
                        copy.write_row(row)
        if by_batch:
            cursor.execute("SET LOCAL session_replication_role = origin")
        # Lock the counter-side rows (units' accounts: other writers share them) in account order
        # first, as `postings.apply_to_balances` does (an UPDATE ... FROM takes rows in whatever
        # order its join runs, which deadlocks two batches sharing unit accounts), then one
        # UPDATE.  The volunteers' own accounts need no such order: every writer of them holds
        # the volunteer's row first, and this batch holds all of its volunteers' rows.  Every
        # account posted to is then locked until COMMIT: that stands for its postings' key check.
        cursor.execute("SELECT id FROM accounts WHERE id = ANY(CAST(%s AS integer[])) ORDER BY id "
                       "FOR NO KEY UPDATE", (int_array(sorted(plan.counter_accounts)),))
        if items:
            cursor.execute("UPDATE accounts SET balance = accounts.balance + d.amount "
                           "FROM unnest(CAST(%s AS integer[]), CAST(%s AS bigint[])) AS d(id, amount) "
                           "WHERE accounts.id = d.id", (int_array(a for a, _ in items), int_array(m for _, m in items)))
        # after the balances: the same order as `post` (`postings.add_year_minutes`, one statement)
        rows = sorted((key, minutes) for key, minutes in plan.year_minutes.items() if minutes)
        if rows:
            cursor.execute(
                "INSERT INTO volunteer_year_minutes (volunteer_id, year, minutes) "
                "SELECT v, y, m FROM unnest(CAST(%s AS integer[]), CAST(%s AS integer[]), CAST(%s AS bigint[])) "
                "WITH ORDINALITY AS d(v, y, m, i) ORDER BY i ON CONFLICT (volunteer_id, year) "
                "DO UPDATE SET minutes = volunteer_year_minutes.minutes + EXCLUDED.minutes",
                (int_array(k[0] for k, _ in rows), int_array(k[1] for k, _ in rows), int_array(m for _, m in rows)))
