"""Figures 1 and 2: bulk posting against a raw COPY; single-record writes (HTTP, in process, pgbench)."""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import text

from bench.stats import summary, threaded
from ledger import service_records
from ledger.usecase import write
from ledger.uow import Context

POSTING_COLUMNS = "transaction_id, account_id, uom, amount, volunteer_id, unit_id, occurred_on"


def bulk_vs_copy(ctx: Context, load: dict) -> dict:
    """Figure 1: the generator's bulk posting rate, and the same postings by a raw COPY."""
    result = {"records": load["records"], "postings": load["postings"], "seconds": load["seconds"],
              "records_per_s": load["records_per_s"], "postings_per_s": load["postings_per_s"],
              "batch": load["batch"]}
    if ctx.is_sqlite:
        return result
    raw = ctx.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT {POSTING_COLUMNS} FROM postings ORDER BY id LIMIT %s", (load["postings"],))
        rows = cur.fetchall()
        for name in ("bench_bare_postings",):
            cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute("CREATE TABLE bench_bare_postings (transaction_id bigint, account_id integer, uom varchar(3), "
                    "amount bigint, volunteer_id integer, unit_id integer, occurred_on date)")
        raw.commit()
        started = time.perf_counter()
        with cur.copy(f"COPY bench_bare_postings ({POSTING_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        rows_s = len(rows) / (time.perf_counter() - started)
        block = io.StringIO()
        for r in rows:
            block.write(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t{r[6]}\n")
        data = block.getvalue().encode()
        cur.execute("TRUNCATE bench_bare_postings")
        raw.commit()
        started = time.perf_counter()
        with cur.copy(f"COPY bench_bare_postings ({POSTING_COLUMNS}) FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start:start + (1 << 20)])
        raw.commit()
        text_rows_s = len(rows) / (time.perf_counter() - started)
        cur.execute("DROP TABLE bench_bare_postings")
        raw.commit()
    finally:
        raw.close()
    limit = max(rows_s, text_rows_s)
    result.update(copy_rows_per_s_from_tuples=round(rows_s), copy_rows_per_s_preformatted=round(text_rows_s),
                  ratio_postings_to_copy=round(load["postings_per_s"] / limit, 3))
    return result
