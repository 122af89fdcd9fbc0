"""Clients spread over processes: one Python process runs its threads one at a time (the GIL),
so a figure measured from one process measures that process, not the ledger.  A deployment
runs a worker per core; `in_processes` runs the same clients from several processes, started
together, and merges their latencies into one summary."""
from __future__ import annotations

import multiprocessing
import time

from bench.stats import summary


def _child(target, n: int, start_at: float, args: tuple) -> dict:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    return target(n, *args)


def in_processes(target, processes: int, *args) -> dict:
    """Run target(n, *args) in `processes` fresh processes (spawned: no inherited connections).

    Each target returns {"latencies_ms": [...], "seconds": s, "errors": k, ...}; the result is
    the summary over every latency, throughput over the longest child's time.
    """
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 4.0  # after every child has imported the ledger and connected
    with ctx.Pool(processes) as pool:
        parts = pool.starmap(_child, [(target, n, start_at, args) for n in range(processes)])
    latencies = [x for part in parts for x in part["latencies_ms"]]
    result = summary(latencies, max(part["seconds"] for part in parts))
    result["processes"] = processes
    result["threads"] = sum(part.get("threads", 0) for part in parts)
    result["errors"] = sum(part.get("errors", 0) for part in parts)
    firsts = [part["first_error"] for part in parts if part.get("first_error")]
    if firsts:
        result["first_error"] = firsts[0]
    for key in ("refused",):
        if any(key in part for part in parts):
            result[key] = sum(part.get(key, 0) for part in parts)
    return result
