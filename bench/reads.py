"""Figures 3 and 6: a volunteer's self-lookup (HTTP and in the database); verify."""
from __future__ import annotations

import random
import shutil
import time

from bench.stats import run_wrk, threaded, timed_loop, wrk_summary
from ledger.book.integrity import verify
from ledger.people.access import Principal
from ledger.store import usecase
from ledger.store.uow import Context
from ledger.store.usecase import read
from ledger.volunteer_view import lookup


def verify_rate(ctx: Context) -> dict:
    """Figure 6: verify over the whole ledger, postings per second.

    Run twice, the figure from the faster run: the first run also opens verify's connections
    (new server processes load the catalog of every partition), and the box is shared.  Both
    runs are kept, with the load average, and on PostgreSQL on this box the CPU the server
    processes spent (the cost that does not depend on the load: microseconds per posting).
    """
    import os

    from sqlalchemy import text

    def server_cpu() -> float | None:  # seconds of CPU of this database's server processes
        if ctx.is_sqlite:
            return None
        with ctx.engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                                ).scalars().all()  # this one too: the pool lends it to verify afterwards
        total = 0.0
        try:
            for pid in pids:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):  # the server is not on this box, or a process went away
            return None
        return total

    runs = []
    for _ in range(2):
        load, cpu_before = os.getloadavg()[0], server_cpu()
        started = time.perf_counter()
        report = read(ctx, verify)
        seconds = time.perf_counter() - started
        cpu_after = server_cpu()
        runs.append({"seconds": round(seconds, 3), "load_average_1m": round(load, 2),
                     "server_cpu_s": None if cpu_before is None or cpu_after is None
                     else round(cpu_after - cpu_before, 2)})
    measured = min(runs, key=lambda run: run["seconds"])
    result = {"ok": report.ok, "transactions": report.transactions, "postings": report.postings,
              "seconds": round(measured["seconds"], 2), "postings_per_s": round(report.postings / measured["seconds"]),
              "figure_from": "the faster of 2 runs", "runs": runs}
    if measured["server_cpu_s"]:
        result["server_cpu_us_per_posting"] = round(measured["server_cpu_s"] * 1e6 / max(1, report.postings), 2)
    return result


def _me(volunteer_id: int) -> Principal:
    return Principal(user_id=None, username=f"bench-v{volunteer_id}", role="volunteer", volunteer_id=volunteer_id)


def balance_sql(ctx: Context, volunteers: list[int], *, count: int, seconds: float) -> dict:
    """The balance read itself: one indexed row per account, a prepared statement, one client."""
    raw = ctx.engine.raw_connection()
    try:
        cur = raw.cursor()
        kinds = list(lookup.VOLUNTEER_ACCOUNTS)
        if ctx.is_sqlite:
            sql = "SELECT kind, balance FROM accounts WHERE owner_id = ? AND kind IN (?, ?, ?)"
            run = lambda i: cur.execute(sql, (volunteers[i % len(volunteers)], *kinds)).fetchall()  # noqa: E731
        else:
            sql = "SELECT kind, balance FROM accounts WHERE owner_id = %s AND kind = ANY(%s)"
            run = lambda i: cur.execute(sql, (volunteers[i % len(volunteers)], kinds),  # noqa: E731
                                        prepare=True).fetchall()
        for i in range(200):  # warm the plan and the cache
            run(i)
        return timed_loop(run, count=count, seconds=seconds)
    finally:
        raw.close()


def summary_sql(ctx: Context, volunteers: list[int], *, count: int, seconds: float) -> dict:
    """The summary read itself: the one statement `lookup.volunteer_summary` runs, prepared, one client.

    Volunteer, unit path, three balances, this year's minutes, star level and the newest policy
    version in one row; the policy in force itself comes from the process cache, not the database.
    """
    compiled = lookup.SUMMARY_ROW.compile(dialect=ctx.engine.dialect)
    year = ctx.today().year
    raw = ctx.engine.raw_connection()
    try:
        cur = raw.cursor()
        sql = str(compiled)
        if ctx.is_sqlite:
            def run(i: int):
                given = {**compiled.params, "volunteer_id": volunteers[i % len(volunteers)], "year": year}
                return cur.execute(sql, [given[name] for name in compiled.positiontup]).fetchall()
        else:
            def run(i: int):
                given = {**compiled.params, "volunteer_id": volunteers[i % len(volunteers)], "year": year}
                return cur.execute(sql, given, prepare=True).fetchall()
        for i in range(200):  # warm the plan and the cache
            run(i)
        return timed_loop(run, count=count, seconds=seconds)
    finally:
        raw.close()


def in_process(ctx: Context, volunteers: list[int], what: str, *, count: int, seconds: float) -> dict:
    """The API's own read (summary or first history page) as a use case, no HTTP, one client."""
    today = ctx.today()
    run = usecase.read_autocommit  # as the API runs it: one unit of work, ended by COMMIT
    if what == "summary":
        fn = lambda i: run(ctx, lambda s: lookup.volunteer_summary(  # noqa: E731
            s, _me(volunteers[i % len(volunteers)]), volunteers[i % len(volunteers)], today))
    else:
        fn = lambda i: run(ctx, lambda s: lookup.volunteer_history(  # noqa: E731
            s, _me(volunteers[i % len(volunteers)]), volunteers[i % len(volunteers)], limit=50))
    for i in range(20):
        fn(i)
    return timed_loop(fn, count=count, seconds=seconds)


def http_reads(url: str, data, volunteers: list[int], path: str, *, clients: int, count: int,
               seconds: float, server=None) -> dict:
    """GET /volunteers/{id}/<path> with each volunteer's own token, `clients` Python threads (httpx).

    The server is started for the call unless one is given.
    """
    import contextlib

    import httpx

    from bench.writes import Server

    with (contextlib.nullcontext(server) if server is not None else Server(url)) as server:
        def make(n: int):
            client = httpx.Client(base_url=server.base, timeout=30)

            def op(i: int) -> None:
                volunteer = volunteers[(i * 7 + n) % len(volunteers)]
                answer = client.get(f"/volunteers/{volunteer}/{path}",
                                    headers={"Authorization": f"Bearer {data.volunteer_tokens[volunteer]}"})
                if answer.status_code != 200:
                    raise RuntimeError(f"{answer.status_code} {answer.text[:120]}")
            return op

        for volunteer in volunteers[:5]:
            httpx.get(f"{server.base}/volunteers/{volunteer}/{path}",
                      headers={"Authorization": f"Bearer {data.volunteer_tokens[volunteer]}"})
        return threaded(make, threads=clients, count=count, seconds=seconds)


WRK_SCRIPT = """
local targets = {%(targets)s}
local n = 0
local pause = %(pause)s
math.randomseed(%(seed)d)

request = function()
  n = n + 1
  local t = targets[((n * 7 + %(seed)d) %% #targets) + 1]
  return wrk.format("GET", t[1], {["Authorization"] = "Bearer " .. t[2]})
end

if pause > 0 then
  -- think time drawn from an exponential distribution: each connection then offers about
  -- 1/pause requests a second, so `connections` of them approximate an open (Poisson) load
  delay = function() return -math.log(1 - math.random()) * pause end
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "errors": %%d, "non2xx": %%d, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def wrk_reads(base: str, data, volunteers: list[int], path: str, *, connections: int, seconds: float,
              rate: float | None = None, threads: int = 1) -> dict | None:
    """GET /volunteers/{id}/<path> from wrk (C, outside Python): None when wrk is not installed.

    Without `rate`: closed loop, each of `connections` sends its next request on the answer.
    With `rate` (requests/s over all connections): each connection waits a random think time
    (exponential, mean connections/rate) between answer and next request, so the server sees
    about `rate` requests a second arriving independently; the latencies are then those at that
    offered load rather than at saturation.
    """
    targets = ", ".join(f'{{"/volunteers/{v}/{path}", "{data.volunteer_tokens[v]}"}}' for v in volunteers)
    pause_ms = (connections / rate * 1000) if rate else 0
    raw = run_wrk(base, WRK_SCRIPT % {"targets": targets, "pause": f"{pause_ms:.3f}", "seed": 42},
                  threads=threads, connections=connections, seconds=seconds)
    if raw is None:
        return None
    result = {**wrk_summary(raw), "connections": connections, "errors": raw["errors"] + raw["non2xx"],
              "client": "wrk"}
    if rate:
        result["offered_per_s"] = rate
    return result


def http_figures(url: str, data, ordinary: list[int], long: list[int], budget: float) -> dict:
    """Figure 3 over HTTP: a 2-worker uvicorn, closed loop with 16 clients, then at offered rates.

    With wrk installed (Debian's `wrk`), the load comes from it: C, one thread, so the server
    has the box's cores nearly to itself.  16 Python threads (httpx) on the same 2 cores take
    about as much CPU per request as the server does, and their own waiting for the GIL is
    counted as latency; they are the fallback when wrk is missing (`client` says which ran).

    A closed loop of 16 clients measures saturation: each waits for its answer before the
    next, so latency is 16 / throughput whatever the server does.  The latency a volunteer
    sees is the one at an offered rate below saturation: 100 requests/s and half the
    closed-loop throughput, each paced by wrk (see `wrk_reads`).
    """
    from bench.writes import Server

    plan = (("balances", ordinary), ("history", ordinary), ("balances_long_history", long),
            ("history_long_history", long))
    with Server(url) as server:
        if shutil.which("wrk") is None:
            closed = {name: http_reads(url, data, who, name.replace("_long_history", ""), clients=16,
                                       count=20_000 if who is ordinary else 2_000, seconds=budget, server=server)
                      for name, who in plan}
            for figures in closed.values():
                figures["client"] = "python threads (httpx)"
            return {"http_16_clients": closed}
        # warm both workers with as many connections as are measured: every database connection
        # of their pools opened, its statements prepared, the catalog of every partition loaded
        for name, who in plan[:2]:
            wrk_reads(server.base, data, who, name, connections=16, seconds=2)
        closed = {name: wrk_reads(server.base, data, who, name.replace("_long_history", ""), connections=16,
                                  seconds=budget) for name, who in plan}
        paced = {}
        for name, who in plan[:2]:
            for rate in (100, max(50, round(closed[name]["per_s"] / 2, -1))):
                paced[f"{name}_at_{rate:g}_per_s"] = wrk_reads(server.base, data, who, name, connections=16,
                                                               seconds=budget, rate=rate)
    return {"http_16_clients": closed, "http_offered_rate": paced}


def self_lookup(ctx: Context, url: str, data, args, http: bool = True) -> dict:
    """Figure 3: balances and the first history page, at the database and over HTTP."""
    rng = random.Random(args.seed)
    ordinary = [v for v in data.volunteer_tokens if v != data.long_volunteer_id]
    everyone = rng.sample(list(data.volunteer_ids), min(20_000, len(data.volunteer_ids)))
    long = [data.long_volunteer_id]
    budget = args.seconds / 2
    with ctx.engine.connect() as conn:
        from sqlalchemy import text

        long_postings = conn.execute(text("SELECT count(*) FROM postings WHERE volunteer_id = :v"),
                                     {"v": data.long_volunteer_id}).scalar_one()
    result = {"long_history_postings": long_postings, "database": {
        "balance_sql": balance_sql(ctx, everyone, count=50_000, seconds=budget),
        "balance_sql_long_history": balance_sql(ctx, long, count=20_000, seconds=budget),
        "summary_sql": summary_sql(ctx, everyone, count=50_000, seconds=budget),
        "summary_sql_long_history": summary_sql(ctx, long, count=20_000, seconds=budget),
        "summary": in_process(ctx, everyone, "summary", count=10_000, seconds=budget),
        "summary_long_history": in_process(ctx, long, "summary", count=5_000, seconds=budget),
        "history_page": in_process(ctx, everyone, "history", count=5_000, seconds=budget),
        "history_page_long_history": in_process(ctx, long, "history", count=2_000, seconds=budget),
    }}
    if http:
        result.update(http_figures(url, data, ordinary, long, budget))
    return result
