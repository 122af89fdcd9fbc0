"""Timing helpers: latencies in milliseconds, median and p99, and the result table."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of `values` (share 0.5 = median, 0.99 = p99)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(latencies_ms: list[float], seconds: float) -> dict:
    """Count, throughput per second, p50 and p99 in ms."""
    return {"count": len(latencies_ms), "seconds": round(seconds, 3),
            "per_s": round(len(latencies_ms) / seconds, 1) if seconds else None,
            "p50_ms": round(percentile(latencies_ms, 0.5), 3), "p99_ms": round(percentile(latencies_ms, 0.99), 3)}


def timed_loop(fn: Callable[[int], None], *, count: int, seconds: float) -> dict:
    """Call fn(i) until `count` calls or `seconds` pass; latencies of each call."""
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        fn(i)
        latencies.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - started > seconds:
            break
    return summary(latencies, time.perf_counter() - started)


def threaded(make_worker: Callable[[int], Callable[[int], None]], *, threads: int, count: int,
             seconds: float, raw: bool = False, first: int = 0) -> dict:
    """`threads` workers, each calling its fn(i) until the shared count or time runs out.

    `raw`: the latencies themselves too (to merge with other processes'); `first`: where
    this process's i starts (processes side by side take disjoint ranges of i).
    """
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    issued = [first]
    deadline = time.perf_counter() + seconds

    def run(n: int) -> None:
        fn = make_worker(n)
        mine = []
        while time.perf_counter() < deadline:
            with lock:
                if issued[0] >= first + count:
                    break
                issued[0] += 1
                i = issued[0]
            t0 = time.perf_counter()
            try:
                fn(i)
            except Exception as exc:  # noqa: BLE001 - counted, reported, not fatal
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    result = summary(latencies, time.perf_counter() - started)
    result["threads"] = threads
    result["errors"] = len(errors)
    if raw:
        result["latencies_ms"] = latencies
    if errors:
        result["first_error"] = errors[0]
    return result


def table(rows: list[tuple]) -> str:
    """A plain-text table; the first row is the header."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def run_wrk(base: str, script: str, *, threads: int, connections: int, seconds: float,
            timeout: str = "10s") -> dict | None:
    """Run wrk with a Lua script whose `done` writes one `WRKJSON {...}` line; that JSON, with
    `seconds` (the run's length) added.  None when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load.lua"
        path.write_text(script)
        answer = subprocess.run([wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                                 "--timeout", timeout, "-s", str(path), base],
                                capture_output=True, text=True, timeout=seconds + 90)
    line = next((ln for ln in answer.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk said: {answer.stdout[-300:]} {answer.stderr[-300:]}")
    raw = json.loads(line[len("WRKJSON "):])
    raw["seconds"] = raw["duration_us"] / 1e6
    return raw


def wrk_summary(raw: dict, count: str = "requests") -> dict:
    """Count, throughput and latency percentiles (ms) of a `run_wrk` result."""
    seconds = raw["seconds"]
    return {"count": raw[count], "seconds": round(seconds, 3),
            "per_s": round(raw[count] / seconds, 1) if seconds else None,
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000}
