"""Figures 4 and 5: concurrent redemptions; the year-end ranking and targets report."""
from __future__ import annotations

import random
import resource
import time
import tracemalloc

from sqlalchemy import text

from bench.stats import threaded
from ledger.errors import LedgerError
from ledger.store.uow import Context
from ledger.store.usecase import write, write_once


def _negatives(ctx: Context) -> dict:
    with ctx.engine.connect() as conn:
        return {
            "accounts_below_zero": conn.execute(text(
                "SELECT count(*) FROM accounts WHERE is_non_negative AND balance < 0")).scalar_one(),
            "stock_below_zero": conn.execute(text("SELECT count(*) FROM desk_items WHERE stock < 0")).scalar_one(),
            "cached_differs_from_postings": conn.execute(text("""
                SELECT count(*) FROM accounts a JOIN (SELECT account_id, sum(amount) AS total FROM postings
                  WHERE account_id IN (SELECT id FROM accounts WHERE kind = 'volunteer_points')
                  GROUP BY account_id) p ON p.account_id = a.id WHERE a.balance <> p.total""")).scalar_one(),
        }


def _redeem_clients(ctx: Context, data, *, threads: int, count: int, seconds: float, seed: int,
                    first: int = 0, raw: bool = False) -> dict:
    """`threads` clients redeeming at the desks for many volunteers; a few hot ones on purpose."""
    from bench.generate import principal
    from ledger.redemption import redeem as redemption

    operator = principal(ctx, "bench-desk-admin")
    rng = random.Random(seed)
    with ctx.engine.connect() as conn:
        rich = [r[0] for r in conn.execute(text(
            "SELECT owner_id FROM accounts WHERE kind = 'volunteer_points' AND balance >= 200 "
            "ORDER BY owner_id LIMIT 20000"))]
    rng.shuffle(rich)
    hot = rich[:8]  # most clients hit these: each ends up refused for lack of points, never below zero
    today = ctx.today()
    run = f"{time.strftime('%H%M%S')}-{first}"
    refused = []

    def make(n: int):
        def op(i: int) -> None:
            volunteer = hot[i % len(hot)] if i % 4 == 0 else rich[i % len(rich)]
            desk, item, price = data.desk_items[i % len(data.desk_items)]
            try:
                write(ctx, key=f"r{run}-{i}", operation="desk.redeem", request={"i": i},
                      fn=lambda s: redemption.redeem(s, operator, desk, volunteer,
                                                     [redemption.Line(item, 1, price)], today))
            except LedgerError as exc:  # refused (not enough points): correct, and counted apart
                refused.append(type(exc).__name__)
        return op

    result = threaded(make, threads=threads, count=count, seconds=seconds, raw=raw, first=first)
    result["refused"] = len(refused)
    return result


def _redeem_child(n: int, url: str, dataset: str, threads: int, count: int, seconds: float, seed: int) -> dict:
    from bench.__main__ import context
    from bench.generate import DataSet

    ctx = context(url, pool=threads + 2)
    try:
        return _redeem_clients(ctx, DataSet.from_json(dataset), threads=threads, count=count, seconds=seconds,
                               seed=seed, first=(n + 1) * 10_000_000, raw=True)
    finally:
        ctx.engine.dispose()


def redemptions(ctx: Context, data, args, url: str | None = None) -> dict:
    """Figure 4: 32 clients redeem at the desks, from one process, then from two (16 threads each)."""
    from bench.parallel import in_processes

    count = 20_000 if args.size == "full" else 4_000
    result = _redeem_clients(ctx, data, threads=32, count=count, seconds=args.seconds, seed=args.seed)
    result["posted_per_s"] = round((result["count"] - result["refused"]) / result["seconds"], 1)
    if url is not None:
        two = in_processes(_redeem_child, 2, url, data.to_json(), 16, count // 2, args.seconds, args.seed)
        two["posted_per_s"] = round((two["count"] - two["refused"]) / two["seconds"], 1)
        result["two_processes"] = two
    result.update(_negatives(ctx))
    return result


def peak_rss_mib() -> int:
    """This process's peak resident memory since it started (exec), in MiB.

    Linux's VmHWM belongs to the process's own address space; `ru_maxrss` is not reset by exec,
    so a report run in a child of a bench that holds gigabytes (figure 1 at full size) would
    be charged the parent's memory.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _measured(fn):
    """Run fn; wall time, Python peak (tracemalloc) and the process's peak RSS."""
    tracemalloc.start()
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = peak_rss_mib()
    return value, {"seconds": round(seconds, 3), "python_peak_mib": round(peak / 2**20, 1), "process_maxrss_mib": rss}


# The county's volunteer legs (the volunteers' own hours and points accounts) of the year: the
# postings a ranking reads, with the ranking's own filter (`ranking_sql.counted_postings`: the
# subtree's units as one array, which lets PostgreSQL read the county through the unit index;
# `unit_id IN (SELECT ...)` took twice as long at medium size), summed per volunteer and nothing
# more.  (The bench data set has no postings of the year but service ones, so no join to
# transactions is needed to keep to service postings.)
BARE_GROUP_BY = """
    SELECT count(*) FROM (
      SELECT volunteer_id, sum(CASE WHEN uom = 'MIN' THEN amount ELSE 0 END),
             sum(CASE WHEN uom = 'PTS' THEN amount ELSE 0 END)
      FROM postings
      WHERE occurred_on >= :lo AND occurred_on < :hi AND volunteer_id IS NOT NULL
        AND unit_id = ANY(ARRAY(SELECT id FROM units WHERE path LIKE :path))
        AND account_id NOT IN (SELECT id FROM accounts WHERE kind IN :others)
      GROUP BY volunteer_id) g"""
# What the bench compared with before: every leg of the county's postings (the counter-side legs
# too, which carry the volunteer's id), grouped by volunteer and unit of measure.
ALL_LEGS_GROUP_BY = """
    SELECT count(*) FROM (SELECT volunteer_id, uom, sum(amount) FROM postings
      WHERE occurred_on >= :lo AND occurred_on < :hi AND unit_id IN (SELECT id FROM units WHERE path LIKE :path)
      GROUP BY volunteer_id, uom) g"""
REPEATS = 3  # each report and each GROUP BY is timed this many times; the fastest is the figure


def _backend_cpu(conn) -> float | None:
    """CPU seconds the connection's server process has used so far (/proc/<pid>/schedstat, so
    only with the server on this box), or None.  On a shared box the wall time of a report
    depends on the others' load; its CPU time much less (parallel workers are not counted)."""
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 3)


def _bare_group_by(ctx: Context, year: int, county: int, sql: str = BARE_GROUP_BY, repeats: int = REPEATS) -> dict:
    """The physical floor: one GROUP BY over the county's postings of the year (fastest of `repeats`)."""
    from sqlalchemy import bindparam

    from ledger.rankings.sql import OTHER_KINDS

    statement = text(sql)
    params = {"lo": f"{year}-01-01", "hi": f"{year + 1}-01-01", "path": f"/{county}/%"}
    if ":others" in sql:
        statement = statement.bindparams(bindparam("others", expanding=True))
        params["others"] = list(OTHER_KINDS)
    times, cpu = [], []
    with ctx.engine.connect() as conn:
        for _ in range(repeats):
            before, started = _backend_cpu(conn), time.perf_counter()
            groups = conn.execute(statement, params).scalar_one()
            times.append(time.perf_counter() - started)
            cpu.append(_cpu_delta(before, _backend_cpu(conn)))
    return {"groups": groups, "seconds": round(min(times), 3), "all_seconds": [round(t, 3) for t in times],
            "server_cpu_seconds": min(cpu) if None not in cpu else None}


def _in_child(url: str, what: str, *args) -> dict:
    """Run one report in a fresh process: its own wall time, Python peak and peak RSS."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bench.reports", url, what, *map(str, args)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _child(url: str, what: str, *args: str) -> dict:
    """Time one report REPEATS times in this process (after one connection and the ORM are set
    up, as in a running service), then once more under tracemalloc for the Python peak.

    The ranking runs a new definition each time (a run at the same definition, period and
    position is the stored snapshot); the targets report is computed by `targets.preview`
    (every figure, at the current position, without storing the report row)."""
    from sqlalchemy.orm import configure_mappers

    from bench.__main__ import context
    from ledger.people.access import SYSTEM
    from ledger.rankings import runs as rankings, targets

    ctx = context(url, pool=1)  # one connection, so its server process is the one measured
    configure_mappers()
    with ctx.engine.connect() as conn:
        backend = conn.connection.dbapi_connection

        def server_cpu() -> float | None:
            with ctx.engine.connect() as again:
                assert again.connection.dbapi_connection is backend
                return _backend_cpu(again)
    today = ctx.today()
    if what == "ranking":
        county, year = int(args[0]), args[1]

        def define() -> int:
            return write_once(ctx, lambda s: rankings.define_ranking(s, SYSTEM, {
                "code": f"bench-year-{county}-{time.time_ns()}", "name": "年度优秀志愿者", "unit_id": county,
                "period_kind": "year", "subject": "volunteer", "metrics": ["hours", "points", "activities"],
                "eligibility": {"min_hours": 20, "min_hours_basis": "period"}, "quota": {"top_share": "0.05"},
                "tie_break": ["earlier_registration", "id"]}))["id"]

        def report(definition_id: int):
            return lambda: write_once(ctx, lambda s: rankings.run_ranking(s, SYSTEM, definition_id, year, today))
    else:
        county, year = int(args[0]), args[1]

        def define() -> int:
            return county

        def report(unit_id: int):
            return lambda: write_once(ctx, lambda s: targets.preview(s, SYSTEM, unit_id, year, today))
    times, cpu = [], []
    for _ in range(REPEATS):
        report_fn = report(define())
        server, client, started = server_cpu(), time.process_time(), time.perf_counter()
        value = report_fn()
        times.append(time.perf_counter() - started)
        client = time.process_time() - client
        server = _cpu_delta(server, server_cpu())
        cpu.append(None if server is None else (round(server, 3), round(client, 3)))
    _, traced = _measured(report(define()))
    fastest_cpu = min(cpu, key=sum) if None not in cpu else None
    result = {"seconds": round(min(times), 3), "all_seconds": [round(t, 3) for t in times],
              "server_cpu_seconds": fastest_cpu and fastest_cpu[0],
              "client_cpu_seconds": fastest_cpu and fastest_cpu[1],
              "python_peak_mib": traced["python_peak_mib"],
              "process_maxrss_mib": peak_rss_mib()}
    if what == "ranking":
        result.update(candidates=value.get("candidates"), shortlisted=value.get("shortlisted"))
    return result


def ranking_and_targets(ctx: Context, url: str, data) -> dict:
    """Figure 5: year-end ranking and targets report of the first county, against a bare GROUP BY
    over the postings they read (the county's volunteer legs of the year, per volunteer).

    Each report runs in a process of its own, so its peak memory is its own, not the bench's.
    The GROUP BY is timed before and after the reports, the fastest run is the floor; the
    GROUP BY the bench used before (all legs, per volunteer and unit of measure) is given too.
    """
    year, county = 2025, data.centers[0]
    bare = _bare_group_by(ctx, year, county)
    ranking = _in_child(url, "ranking", county, year)
    report = _in_child(url, "targets", county, year)
    bare_again = _bare_group_by(ctx, year, county)
    all_legs = _bare_group_by(ctx, year, county, ALL_LEGS_GROUP_BY)
    floor = min(bare["seconds"], bare_again["seconds"])
    cpu_floor = None if None in (bare["server_cpu_seconds"], bare_again["server_cpu_seconds"]) else \
        min(bare["server_cpu_seconds"], bare_again["server_cpu_seconds"])

    def ratios(measured: dict) -> dict:
        cpu = measured.get("server_cpu_seconds")
        return {"ratio_to_group_by": round(measured["seconds"] / floor, 2),
                "cpu_ratio_to_group_by": round((cpu + measured["client_cpu_seconds"]) / cpu_floor, 2)
                if cpu is not None and cpu_floor else None}

    return {"bare_group_by": {**bare, "seconds": floor, "server_cpu_seconds": cpu_floor, "before": bare,
                              "after": bare_again},
            "all_legs_group_by": all_legs,
            "ranking": {**ranking, **ratios(ranking)}, "targets": {**report, **ratios(report)}}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(_child(*sys.argv[1:])))
