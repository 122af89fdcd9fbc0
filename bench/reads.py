"""Figures 3 and 6: a volunteer's self-lookup (HTTP and in the database); verify."""
from __future__ import annotations

import time

from ledger.integrity import verify
from ledger.usecase import read
from ledger.uow import Context


def verify_rate(ctx: Context) -> dict:
    """Figure 6: verify over the whole ledger, postings per second."""
    started = time.perf_counter()
    report = read(ctx, verify)
    seconds = time.perf_counter() - started
    return {"ok": report.ok, "transactions": report.transactions, "postings": report.postings,
            "seconds": round(seconds, 2), "postings_per_s": round(report.postings / seconds)}
