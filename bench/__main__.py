"""`python -m bench --size small|full`: generate the data set, measure the six figures.

PostgreSQL (every figure) in a database of its own, `ledger_bench_<size>`, on the server of
LEDGER_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres); SQLite (the
figures where it makes sense: bulk posting, reads at the database, verify) in
var/bench-<size>.sqlite3.  Prints a table against the goals and writes it as JSON to
bench/results/<size>-<time>.json.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import generate, goals
from ledger.store.db import make_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import Context

ADMIN_URL = os.environ.get("LEDGER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).with_name("results")
SECRET = b"bench-secret-key"
FIGURES = ("1", "2", "3", "4", "5", "6")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pg_url(database: str) -> str:
    """The URL of a database on the bench server."""
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


def fresh_pg(database: str) -> str:
    """Drop and create the bench database; returns its URL."""
    admin = create_engine(ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return pg_url(database)


def fresh_sqlite(name: str) -> str:
    path = Path("var") / f"{name}.sqlite3"
    path.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


@contextlib.contextmanager
def production_server():
    """A private PostgreSQL with the production settings for this machine, as the bench server."""
    global ADMIN_URL
    from ledger.store.pgsettings import production_settings
    from tests.faults.pgcluster import PrivateCluster

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    settings = {**production_settings(memory, os.cpu_count() or 2), "max_connections": "200"}
    cluster = PrivateCluster(settings)
    cluster.init()
    cluster.start()
    before = ADMIN_URL
    ADMIN_URL = f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    os.environ["LEDGER_BENCH_POSTGRES"] = ADMIN_URL  # read again where figure 2 imports it
    log(f"production settings on a private server at port {cluster.port}: {settings}")
    try:
        yield settings
    finally:
        ADMIN_URL = before
        cluster.destroy()


def context(url: str, pool: int = 40) -> Context:
    return Context(engine=make_engine(url, pool_size=pool), secret_key=SECRET, deployment_id="bench",
                   options={"transfer_future_limit_days": 30, "sign_in_max_attempts": 5,
                            "sign_in_lockout_minutes": 15, "rate_limit_per_minute": 10**9})


def build(url: str, size: str, seed: int, loaders: int = 2, reuse: bool = False,
          tag: str = "") -> tuple[Context, generate.DataSet]:
    saved = RESULTS / f"dataset-{size}{tag}-{url.split(':', 1)[0]}.json"
    if reuse and saved.exists():  # the data set of an earlier run, still in its database
        upgrade(url)  # newer revisions (e.g. 0010 backfills hours per year) apply to it first
        return context(url), generate.DataSet.from_json(saved.read_text())
    upgrade(url)
    ctx = context(url)
    data = generate.generate(ctx, size, seed, progress=log, loaders=loaders)
    RESULTS.mkdir(exist_ok=True)
    saved.write_text(data.to_json())
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return ctx, data


def run_postgresql(args, results: dict) -> None:
    from bench import reads, reports, writes

    name = f"ledger_bench_{args.size}{args.tag}"
    url = pg_url(name) if args.reuse else fresh_pg(name)
    log(f"PostgreSQL: the {args.size} data set in {url}")
    ctx, data = build(url, args.size, args.seed, args.loaders, args.reuse, args.tag)
    results["data"] = data.load
    figures = results["postgresql"] = {}
    wanted = set(args.figures)
    if "1" in wanted:
        log("figure 1: bulk posting vs raw COPY")
        figures["1"] = writes.bulk_vs_copy(ctx, data.load)
    if "3" in wanted:
        log("figure 3: self-lookup in the database and over HTTP")
        figures["3"] = reads.self_lookup(ctx, url, data, args)
    if "5" in wanted:
        log("figure 5: year-end ranking and targets report vs a bare GROUP BY")
        figures["5"] = reports.ranking_and_targets(ctx, url, data)
    if "6" in wanted:
        log("figure 6: verify")
        figures["6"] = reads.verify_rate(ctx)
    if "2" in wanted:
        log("figure 2: single-record writes over HTTP (16 clients), in process (8 threads), pgbench")
        figures["2"] = writes.single_writes(ctx, url, data, args)
    if "4" in wanted:
        log("figure 4: concurrent redemptions from 32 clients")
        figures["4"] = reports.redemptions(ctx, data, args, url)
    ctx.engine.dispose()


def run_sqlite(args, results: dict) -> None:
    from bench import reads, writes

    name = f"bench-{args.size}{args.tag}"
    url = f"sqlite:///var/{name}.sqlite3" if args.reuse else fresh_sqlite(name)
    log(f"SQLite: the {args.size} data set in {url}")
    ctx, data = build(url, args.size, args.seed, reuse=args.reuse, tag=args.tag)
    figures = results["sqlite"] = {"data": data.load}
    if "1" in args.figures:
        figures["1"] = writes.bulk_vs_copy(ctx, data.load)
    if "3" in args.figures:
        figures["3"] = reads.self_lookup(ctx, url, data, args, http=False)
    if "6" in args.figures:
        figures["6"] = reads.verify_rate(ctx)
    ctx.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(generate.SIZES), default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engine", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--figures", default=",".join(FIGURES),
                        help="comma-separated subset of 1,2,3,4,5,6")
    parser.add_argument("--loaders", type=int, default=2,
                        help="parallel bulk loaders on PostgreSQL (1: ids too are the same from run to run)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the data set an earlier run left in its database (no generation)")
    parser.add_argument("--tag", default="",
                        help="suffix of the bench database and data-set names (runs side by side: --tag _a)")
    parser.add_argument("--seconds", type=float, default=None, help="time bound of each timed figure")
    parser.add_argument("--pg-settings", choices=("stock", "production"), default="stock",
                        help="production: a private server (initdb, another port) with `ledger pg-settings` "
                             "sized for this machine, instead of LEDGER_BENCH_POSTGRES")
    args = parser.parse_args(argv)
    args.figures = [f.strip() for f in args.figures.split(",") if f.strip()]
    args.seconds = args.seconds or (10.0 if args.size in ("small", "tiny") else 30.0)
    results: dict = {"size": args.size, "seed": args.seed, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform()},
                     "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])}
    started = time.perf_counter()
    results["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    if args.engine in ("postgresql", "both"):
        if args.pg_settings == "production":
            with production_server() as settings:
                results["pg_settings"] = settings
                args.tag += "_production"
                run_postgresql(args, results)
        else:
            run_postgresql(args, results)
    if args.engine in ("sqlite", "both"):
        run_sqlite(args, results)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(goals.render(results))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.size}{args.tag}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
