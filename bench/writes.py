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

from sqlalchemy import text

from bench.stats import run_wrk, summary, threaded, wrk_summary
from ledger.service import records as service_records
from ledger.store.uow import Context
from ledger.store.usecase import write

POSTING_COLUMNS = "transaction_id, account_id, uom, amount, volunteer_id, unit_id, occurred_on"


def bulk_vs_copy(ctx: Context, load: dict) -> dict:
    """Figure 1: the generator's bulk posting rate, and the same postings by a raw COPY.

    The limit is the fastest of three raw COPYs of the same rows into a bare table (no key,
    index or constraint), one session: from tuples (text), preformatted text, and binary from
    tuples (as the bulk path writes).  Beside it, for the note (not the goal): the same rows
    into a table of postings' own shape, its indexes and CHECKs but no foreign keys or
    partitions, by binary COPY: what the schema alone costs per posting row.
    """
    result = {"records": load["records"], "postings": load["postings"], "seconds": load["seconds"],
              "records_per_s": load["records_per_s"], "postings_per_s": load["postings_per_s"],
              "batch": load["batch"], "loaders": load.get("loaders")}
    if ctx.is_sqlite:
        return result
    raw = ctx.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT {POSTING_COLUMNS} FROM postings ORDER BY id LIMIT %s", (load["postings"],))
        rows = cur.fetchall()
        types = ["int8", "int4", "varchar", "int8", "int4", "int4", "date"]
        block = io.StringIO()
        for r in rows:
            block.write(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t{r[6]}\n")
        data = block.getvalue().encode()

        def timed(table: str, how: str) -> float:
            started = time.perf_counter()
            binary = " (FORMAT BINARY)" if how == "binary" else ""
            with cur.copy(f"COPY {table} ({POSTING_COLUMNS}) FROM STDIN{binary}") as copy:
                if how == "text":
                    for start in range(0, len(data), 1 << 20):
                        copy.write(data[start:start + (1 << 20)])
                else:
                    if how == "binary":
                        copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
            raw.commit()
            return len(rows) / (time.perf_counter() - started)

        rates = {}
        for name, ddl in (
                ("bare", "CREATE TABLE bench_bare_postings (transaction_id bigint, account_id integer, "
                         "uom varchar(3), amount bigint, volunteer_id integer, unit_id integer, occurred_on date)"),
                ("indexed", "CREATE TABLE bench_bare_postings (LIKE postings INCLUDING DEFAULTS "
                            "INCLUDING CONSTRAINTS INCLUDING INDEXES)")):
            cur.execute("DROP TABLE IF EXISTS bench_bare_postings")
            cur.execute(ddl)
            raw.commit()
            for how in (("tuples", "text", "binary") if name == "bare" else ("binary",)):
                rates[(name, how)] = timed("bench_bare_postings", how)
                cur.execute("TRUNCATE bench_bare_postings")
                raw.commit()
        cur.execute("DROP TABLE bench_bare_postings")
        raw.commit()
    finally:
        raw.close()
    limit = max(rate for (name, _how), rate in rates.items() if name == "bare")
    indexed = rates[("indexed", "binary")]
    result.update(copy_rows_per_s_from_tuples=round(rates[("bare", "tuples")]),
                  copy_rows_per_s_preformatted=round(rates[("bare", "text")]),
                  copy_rows_per_s_binary=round(rates[("bare", "binary")]),
                  copy_rows_per_s_limit=round(limit),
                  ratio_postings_to_copy=round(load["postings_per_s"] / limit, 3),
                  copy_rows_per_s_postings_shape=round(indexed),
                  ratio_postings_shape_to_copy=round(indexed / limit, 3),
                  ratio_postings_to_postings_shape=round(load["postings_per_s"] / indexed, 3))
    return result


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The real service: uvicorn in a subprocess on loopback, over the bench database."""

    def __init__(self, url: str, workers: int = 2):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_SECRET_KEY": "bench-secret-key",
               "LEDGER_RATE_LIMIT_PER_MINUTE": "1000000000", "LEDGER_DEMO_DATA": "false",
               "LEDGER_SCHEDULER_ENABLED": "false", "LEDGER_DATA_DIR": "var"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
            env=env)
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the uvicorn server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


WRITES_FROM = dt.date(2026, 1, 1)  # the first day of the writes' activities (one a day, 366 of them)
WRITES_TITLE = "基准写入"


def _pool(ctx: Context, data) -> tuple[list[int], int]:
    """Volunteers to write for, and the first of the activities to record against (one a day)."""
    volunteers = list(data.volunteer_ids[1:])
    return volunteers[: max(1000, len(volunteers) // 2)], _day_activities(ctx)


def _day_activities(ctx: Context) -> int:
    """The id of the writes' activity on WRITES_FROM; the next days' follow it (made once per database)."""
    from bench.generate import day_activities

    with ctx.engine.connect() as conn:
        found = conn.execute(text("SELECT MIN(id) FROM activities WHERE title = :title"),
                             {"title": WRITES_TITLE}).scalar()
        unit_id, category = conn.execute(text("SELECT unit_id, category FROM activities ORDER BY id LIMIT 1")).one()
    return found if found is not None else day_activities(ctx, unit_id, WRITES_TITLE, category, WRITES_FROM, 366)


def _activity(first: int, start: dt.datetime) -> int:
    """The writes' activity of a service's day."""
    return first + (start.date() - WRITES_FROM).days


# Days into 2026 where this run's services go: a run on a reused data set (--reuse) does not
# overlap the services of an earlier run (same hour, same day, same volunteer) but by chance.
SHIFT = (int(time.time()) // 7) % 280


def _slot(pool: list[int], i: int, hour: int) -> tuple[int, dt.datetime]:
    """Op i's volunteer and start: a distinct (volunteer, day) per op, never overlapping."""
    day = WRITES_FROM + dt.timedelta(days=SHIFT + i // len(pool))
    return pool[i % len(pool)], dt.datetime.combine(day, dt.time(hour))


class KeepAlive:
    """One client's HTTP/1.1 connection (the standard library's: a light client, so the
    clients take as little as possible of the CPU the server needs on this shared box)."""

    def __init__(self, base: str):
        from http.client import HTTPConnection
        from urllib.parse import urlparse

        parts = urlparse(base)
        self._new = lambda: HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.conn = self._new()

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, object]:
        import json

        payload = None if body is None else json.dumps(body).encode()
        head = {**(headers or {}), **({"Content-Type": "application/json"} if payload is not None else {})}
        try:
            self.conn.request(method, path, body=payload, headers=head)
            answer = self.conn.getresponse()
        except (ConnectionError, OSError):
            self.conn.close()
            self.conn = self._new()
            raise
        data = answer.read()
        try:
            return answer.status, json.loads(data)
        except ValueError:
            return answer.status, data.decode(errors="replace")


WRK_WRITES = """
-- record, then approve what was recorded, on each connection (one connection per wrk thread)
local volunteers = {%(volunteers)s}
local threads = {}
local base = os.time{year = 2026, month = 1, day = 1, hour = %(hour)d}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  k, posted, refused, pending, last = 0, 0, 0, nil, nil
end

function request()
  if pending then
    last = "approve"
    return wrk.format("POST", "/service-records/" .. pending .. "/approve",
      {["Authorization"] = "Bearer %(approver)s", ["Idempotency-Key"] = "wa%(run)s-" .. tid .. "-" .. k})
  end
  k = k + 1
  local i = k * %(threads)d + tid
  local v = volunteers[(i %% #volunteers) + 1]
  local start = base + (%(shift)d + math.floor(i / #volunteers)) * 86400
  local activity = %(activity)d + %(shift)d + math.floor(i / #volunteers)  -- the activity of the day
  local body = string.format('{"volunteer_id": %%d, "activity_id": %%d, "started_at": "%%s", ' ..
    '"ended_at": "%%s", "confirmed_by": "bench"}', v, activity, os.date("%%Y-%%m-%%dT%%H:%%M:%%S", start),
    os.date("%%Y-%%m-%%dT%%H:%%M:%%S", start + 3600))
  last = "record"
  return wrk.format("POST", "/service-records", {["Authorization"] = "Bearer %(recorder)s",
    ["Idempotency-Key"] = "wr%(run)s-" .. tid .. "-" .. k, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if last == "record" then
    if status == 201 then pending = string.match(body, '"id":%%s*(%%d+)') else refused = refused + 1 end
  else
    if status == 200 then posted = posted + 1 else refused = refused + 1 end
    pending = nil
  end
end

function done(summary, latency, requests)
  local p, r = 0, 0
  for _, t in ipairs(threads) do p = p + t:get("posted"); r = r + t:get("refused") end
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "errors": %%d, "non2xx": %%d, "posted": %%d, ' ..
    '"refused": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, p, r, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def wrk_writes(base: str, data, pool: list[int], activity: int, *, connections: int, seconds: float,
               hour: int = 11) -> dict | None:
    """Record + approve over HTTP from wrk (C): `connections` connections, one per wrk thread,
    each recording a service and then approving it.  None when wrk is not installed."""
    script = WRK_WRITES % {"volunteers": ",".join(str(v) for v in pool[:20_000]), "hour": hour,
                           "threads": connections, "shift": SHIFT, "activity": activity,
                           "recorder": data.tokens["recorder"], "approver": data.tokens["approver"],
                           "run": time.strftime("%H%M%S")}
    raw = run_wrk(base, script, threads=connections, connections=connections, seconds=seconds, timeout="30s")
    if raw is None:
        return None
    posted = {**wrk_summary(raw, count="posted"), "errors": raw["errors"] + raw["refused"], "threads": connections}
    return {"records_posted": posted, "requests": wrk_summary(raw), "client": "wrk, one connection per thread"}


def http_writes(url: str, ctx: Context, data, *, clients: int, count: int, seconds: float) -> dict:
    """Record then approve (which posts) over HTTP, `clients` concurrent clients."""
    pool, activity = _pool(ctx, data)
    requests: list[float] = []
    lock = threading.Lock()
    run = time.strftime("%H%M%S")
    with Server(url) as server:
        # warm-up, not measured: both workers' database connections opened, their statements
        # prepared and the catalog of every partition loaded, as in a service that has been
        # running (new backends pay that once: a 10 s run from cold measured 30% fewer writes)
        wrk_writes(server.base, data, pool, activity, connections=clients, seconds=min(3.0, seconds / 3), hour=9)
        by_wrk = wrk_writes(server.base, data, pool, activity, connections=clients, seconds=seconds)
        if by_wrk is not None:  # C clients: the server has the box's cores to itself
            return by_wrk

        def make(n: int):
            client = KeepAlive(server.base)
            rec = {"Authorization": f"Bearer {data.tokens['recorder']}"}
            app = {"Authorization": f"Bearer {data.tokens['approver']}"}

            def op(i: int) -> None:
                volunteer, start = _slot(pool, i, 10)
                body = {"volunteer_id": volunteer, "activity_id": _activity(activity, start),
                        "started_at": start.isoformat(),
                        "ended_at": (start + dt.timedelta(minutes=60)).isoformat(), "confirmed_by": "bench"}
                t0 = time.perf_counter()
                status, made = client.request("POST", "/service-records", body,
                                              {**rec, "Idempotency-Key": f"h{run}-{i}"})
                t1 = time.perf_counter()
                if status != 201:
                    raise RuntimeError(f"record: {status} {str(made)[:120]}")
                status, posted = client.request("POST", f"/service-records/{made['id']}/approve", None,
                                                {**app, "Idempotency-Key": f"a{run}-{i}"})
                t2 = time.perf_counter()
                if status != 200:
                    raise RuntimeError(f"approve: {status} {str(posted)[:120]}")
                with lock:
                    requests.extend(((t1 - t0) * 1000, (t2 - t1) * 1000))
            return op

        result = threaded(make, threads=clients, count=count, seconds=seconds)
    per_request = summary(requests, result["seconds"])
    return {"records_posted": result, "requests": per_request, "client": "http.client keep-alive, one per thread"}


def in_process_writes(ctx: Context, data, *, threads: int, count: int, seconds: float, hour: int = 14,
                      raw: bool = False, first: int = 0) -> dict:
    """The same record + approve through the use cases, no HTTP, from `threads` threads."""
    from bench.generate import principal

    pool, activity = _pool(ctx, data)
    recorder, approver = principal(ctx, "bench-recorder"), principal(ctx, "bench-approver")
    run = time.strftime("%H%M%S")

    def make(n: int):
        def op(i: int) -> None:
            volunteer, start = _slot(pool, i, hour)
            command = service_records.RecordService(volunteer_id=volunteer, activity_id=_activity(activity, start),
                                                    started_at=start, ended_at=start + dt.timedelta(minutes=60),
                                                    confirmed_by="bench")
            made, _ = write(ctx, key=f"p{run}-{i}", operation="record.create", request={"i": i},
                            fn=lambda s: service_records.record_public(
                                service_records.record_service(s, recorder, command, ctx.local_now())))
            write(ctx, key=f"q{run}-{i}", operation="record.approve", request={"record_id": made["id"]},
                  fn=lambda s: service_records.record_public(service_records.approve_record(s, approver, made["id"])))
        return op

    return threaded(make, threads=threads, count=count, seconds=seconds, raw=raw, first=first)


def _writes_child(n: int, url: str, dataset: str, threads: int, count: int, seconds: float) -> dict:
    """One process of `in_process_writes_processes`: its own engine, its own hour of the day."""
    from bench.__main__ import context
    from bench.generate import DataSet

    ctx = context(url, pool=threads + 2)
    try:
        return in_process_writes(ctx, DataSet.from_json(dataset), threads=threads, count=count,
                                 seconds=seconds, hour=16 + n, raw=True)
    finally:
        ctx.engine.dispose()


def in_process_writes_processes(url: str, data, *, processes: int, threads: int, count: int,
                                seconds: float) -> dict:
    """In process, from `processes` processes of `threads` threads each (a worker per core)."""
    from bench.parallel import in_processes

    return in_processes(_writes_child, processes, url, data.to_json(), threads, count // processes, seconds)


def pgbench(admin_url: str, seconds: int = 10) -> dict:
    """`pgbench -c 8 -j 2 -T <seconds>` (TPC-B-like) in a database of its own, same server."""
    from urllib.parse import urlparse

    exe = shutil.which("pgbench")
    if exe is None:
        return {"skipped": "pgbench is not installed (postgresql-client; scripts/setup-system.sh installs it)"}
    parts = urlparse(admin_url)
    conn = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
    for tool in (["dropdb", "--if-exists"], ["createdb"]):
        subprocess.run([shutil.which(tool[0]) or tool[0], *tool[1:], *conn, "ledger_bench_pgbench"], env=env, check=True)
    subprocess.run([exe, "-i", "-q", "-s", "8", *conn, "ledger_bench_pgbench"], env=env, check=True,
                   capture_output=True)
    out = subprocess.run([exe, "-n", "-c", "8", "-j", "2", "-T", str(seconds), *conn, "ledger_bench_pgbench"],
                         env=env, check=True, capture_output=True, text=True).stdout
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    subprocess.run([shutil.which("dropdb") or "dropdb", *conn, "ledger_bench_pgbench"], env=env, check=False)
    return {"command": f"pgbench -c 8 -j 2 -T {seconds}", "tps": round(tps, 1),
            "latency_avg_ms": float(latency.group(1)) if latency else None}


def single_writes(ctx: Context, url: str, data, args) -> dict:
    """Figure 2: HTTP with 16 clients; in process with 8 threads; pgbench in the same run."""
    from bench.__main__ import ADMIN_URL

    count = 20_000 if args.size == "full" else 3_000
    result = {"http_16_clients": http_writes(url, ctx, data, clients=16, count=count, seconds=args.seconds),
              "in_process_8_threads": in_process_writes(ctx, data, threads=8, count=count, seconds=args.seconds),
              "in_process_2x4": in_process_writes_processes(url, data, processes=2, threads=4, count=count,
                                                            seconds=args.seconds),
              "pgbench": pgbench(ADMIN_URL, int(args.seconds))}
    if "tps" in result["pgbench"]:
        result["ratio_in_process_to_pgbench"] = round(
            result["in_process_8_threads"]["per_s"] / result["pgbench"]["tps"], 3)
        result["ratio_2x4_to_pgbench"] = round(result["in_process_2x4"]["per_s"] / result["pgbench"]["tps"], 3)
    return result
