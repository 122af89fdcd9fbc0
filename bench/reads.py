"""Figures 3 and 6: a volunteer's self-lookup (HTTP and in the database); verify."""
from __future__ import annotations

import random
import time

from bench.stats import threaded, timed_loop
from ledger import lookup
from ledger.access import Principal
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


def in_process(ctx: Context, volunteers: list[int], what: str, *, count: int, seconds: float) -> dict:
    """The API's own read (summary or first history page) as a use case, no HTTP, one client."""
    today = ctx.today()
    if what == "summary":
        fn = lambda i: read(ctx, lambda s: lookup.volunteer_summary(  # noqa: E731
            s, _me(volunteers[i % len(volunteers)]), volunteers[i % len(volunteers)], today))
    else:
        fn = lambda i: read(ctx, lambda s: lookup.volunteer_history(  # noqa: E731
            s, _me(volunteers[i % len(volunteers)]), volunteers[i % len(volunteers)], limit=50))
    for i in range(20):
        fn(i)
    return timed_loop(fn, count=count, seconds=seconds)


def http_reads(url: str, data, volunteers: list[int], path: str, *, clients: int, count: int,
               seconds: float) -> dict:
    """GET /volunteers/{id}/<path> with each volunteer's own token, `clients` concurrent clients."""
    import httpx

    from bench.writes import Server

    with Server(url) as server:
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
        "summary": in_process(ctx, everyone, "summary", count=5_000, seconds=budget),
        "summary_long_history": in_process(ctx, long, "summary", count=200, seconds=budget),
        "history_page": in_process(ctx, everyone, "history", count=5_000, seconds=budget),
        "history_page_long_history": in_process(ctx, long, "history", count=500, seconds=budget),
    }}
    if http:
        result["http_16_clients"] = {
            "balances": http_reads(url, data, ordinary, "balances", clients=16, count=20_000, seconds=budget),
            "history": http_reads(url, data, ordinary, "history", clients=16, count=20_000, seconds=budget),
            "balances_long_history": http_reads(url, data, long, "balances", clients=16, count=2_000, seconds=budget),
            "history_long_history": http_reads(url, data, long, "history", clients=16, count=2_000, seconds=budget),
        }
    return result
