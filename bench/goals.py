"""The issue's goals, and the table of measured figures against them."""
from __future__ import annotations

from bench.stats import table


def _get(data: dict, *path, default=None):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)) and digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ok(condition) -> str:
    return "—" if condition is None else ("yes" if condition else "NO")


def _lat(s: dict | None) -> str:
    if not s:
        return "—"
    return f"{_n(s.get('per_s'))}/s, p50 {_n(s.get('p50_ms'), 2)} ms, p99 {_n(s.get('p99_ms'), 2)} ms"


def _rows_fig1(rows: list, engine: str, f: dict | None) -> None:
    if not f:
        return
    rows.append(("1", engine, "bulk posting, records/s (tx + postings + balances + stars)",
                 f"{_n(f['records_per_s'])} rec/s ({_n(f['postings_per_s'])} postings/s, {f['records']:,} records)",
                 ">= 20,000 rec/s", _ok(f["records_per_s"] >= 20_000)))
    if "ratio_postings_to_copy" in f:
        rows.append(("1", engine, "postings rows/s vs raw COPY into a bare table",
                     f"{f['ratio_postings_to_copy']} (raw COPY {_n(f.get('copy_rows_per_s_limit', f['copy_rows_per_s_preformatted']))} "
                     f"rows/s, the fastest of text/tuples/binary; into postings' own shape without FKs "
                     f"{_n(f.get('copy_rows_per_s_postings_shape'))} rows/s)",
                     ">= 0.10", _ok(f["ratio_postings_to_copy"] >= 0.10)))


def _rows_fig2(rows: list, f: dict | None) -> None:
    if not f:
        return
    http = f["http_16_clients"]
    posted, requests = http["records_posted"], http["requests"]
    rows.append(("2", "postgresql", "HTTP, 16 clients: record + approve (posts)",
                 f"{_n(posted['per_s'], 1)} records posted/s = {_n(requests['per_s'], 1)} write requests/s; "
                 f"request p50 {_n(requests['p50_ms'], 1)} ms, p99 {_n(requests['p99_ms'], 1)} ms; errors {posted['errors']}",
                 ">= 1,000 writes/s, p99 < 30 ms",
                 _ok(requests["per_s"] >= 1000 and requests["p99_ms"] < 30)))
    inproc, bench = f["in_process_8_threads"], f["pgbench"]
    rows.append(("2", "postgresql", "in process, 8 threads: record + approve vs pgbench -c 8 -j 2",
                 f"{_n(inproc['per_s'], 1)} posted/s (p50 {_n(inproc['p50_ms'], 1)} ms, p99 {_n(inproc['p99_ms'], 1)} ms)"
                 f" vs pgbench {_n(bench.get('tps'))} tps: ratio {f.get('ratio_in_process_to_pgbench', '—')}",
                 ">= 0.5 of pgbench", _ok(f.get("ratio_in_process_to_pgbench", 0) >= 0.5 if "tps" in bench else None)))
    two = f.get("in_process_2x4")
    if two:
        rows.append(("2", "postgresql", "in process, 2 processes x 4 threads (a worker per core) vs pgbench",
                     f"{_n(two['per_s'], 1)} posted/s (p50 {_n(two['p50_ms'], 1)} ms, p99 {_n(two['p99_ms'], 1)} ms, "
                     f"errors {two['errors']}) vs pgbench {_n(bench.get('tps'))} tps: ratio "
                     f"{f.get('ratio_2x4_to_pgbench', '—')}",
                     ">= 0.5 of pgbench", _ok(f.get("ratio_2x4_to_pgbench", 0) >= 0.5 if "tps" in bench else None)))


def _rows_fig3(rows: list, engine: str, f: dict | None) -> None:
    if not f:
        return
    db = f["database"]
    long = f"{f['long_history_postings']:,}"
    for key, label, goal in (
            ("balance_sql", "balance read (one SQL statement, prepared), 1 client", True),
            ("balance_sql_long_history", f"balance read, volunteer with {long} postings", True),
            ("summary_sql", "summary read (its one SQL statement, prepared), 1 client", True),
            ("summary_sql_long_history", f"summary read, volunteer with {long} postings", True),
            ("summary", "summary use case in process (session, statement, Python)", False),
            ("summary_long_history", "summary use case, long history", False),
            ("history_page", "first history page (use case)", False),
            ("history_page_long_history", "first history page, long history", False)):
        if key not in db:
            continue
        rows.append(("3", engine, label, _lat(db[key]), "p99 < 0.2 ms" if goal else "(no goal: beside it)",
                     _ok(db[key]["p99_ms"] < 0.2) if goal else "—"))
    for key, s in (f.get("http_16_clients") or {}).items():
        rows.append(("3", engine, f"HTTP closed loop, 16 clients ({s.get('client', 'python')}), GET "
                                  f"{key.replace('_long_history', ' (long history)')}",
                     _lat(s) + (f"; errors {s['errors']}" if s.get("errors") else ""),
                     "p99 < 10 ms", _ok(s["p99_ms"] < 10)))
    for key, s in (f.get("http_offered_rate") or {}).items():
        rows.append(("3", engine, f"HTTP at an offered rate (wrk -R), GET {key.replace('_', ' ')}",
                     _lat(s) + (f"; errors {s['errors']}" if s.get("errors") else ""),
                     "p99 < 10 ms", _ok(s["p99_ms"] < 10)))


def _rows_fig4(rows: list, f: dict | None) -> None:
    if not f:
        return
    negatives = f["accounts_below_zero"] + f["stock_below_zero"]
    rows.append(("4", "postgresql", "redemptions, 32 clients (1 in 4 on 8 hot volunteers)",
                 f"{_n(f['per_s'], 1)} answered/s ({_n(f['posted_per_s'], 1)} posted/s, {f['refused']} refused for "
                 f"lack of points), p50 {_n(f['p50_ms'], 1)} ms, p99 {_n(f['p99_ms'], 1)} ms; below zero: "
                 f"{f['accounts_below_zero']} accounts, {f['stock_below_zero']} items",
                 ">= 1,000/s, nothing negative", _ok(f["per_s"] >= 1000 and negatives == 0)))
    two = f.get("two_processes")
    if two:
        rows.append(("4", "postgresql", "redemptions, 32 clients as 2 processes x 16 threads",
                     f"{_n(two['per_s'], 1)} answered/s ({_n(two['posted_per_s'], 1)} posted/s, {two['refused']} refused), "
                     f"p50 {_n(two['p50_ms'], 1)} ms, p99 {_n(two['p99_ms'], 1)} ms, errors {two['errors']}; below zero "
                     f"(after both runs): {f['accounts_below_zero']} accounts, {f['stock_below_zero']} items",
                     ">= 1,000/s, nothing negative", _ok(two["per_s"] >= 1000 and negatives == 0)))


def _rows_fig5(rows: list, f: dict | None) -> None:
    if not f:
        return
    bare = f["bare_group_by"]
    for name in ("ranking", "targets"):
        s = f[name]
        rows.append(("5", "postgresql", f"year-end {name} (first county)",
                     f"{s['seconds']} s, Python peak {s['python_peak_mib']} MiB, process {s['process_maxrss_mib']} MiB; "
                     f"bare GROUP BY {bare['seconds']} s -> {s['ratio_to_group_by']}x",
                     "< 20 s, < 1 GiB, <= 1.5x GROUP BY",
                     _ok(s["seconds"] < 20 and s["process_maxrss_mib"] < 1024 and s["ratio_to_group_by"] <= 1.5)))


def _rows_fig6(rows: list, engine: str, f: dict | None) -> None:
    if not f:
        return
    rows.append(("6", engine, "verify, whole ledger",
                 f"{_n(f['postings_per_s'])} postings/s ({f['postings']:,} postings in {f['seconds']} s, ok={f['ok']})",
                 ">= 500,000 postings/s", _ok(f["postings_per_s"] >= 500_000)))


def render(results: dict) -> str:
    """The table of every measured figure against its goal."""
    rows = [("#", "engine", "figure", "measured", "goal", "met")]
    pg, lite = results.get("postgresql", {}), results.get("sqlite", {})
    _rows_fig1(rows, "postgresql", pg.get("1"))
    _rows_fig1(rows, "sqlite", lite.get("1"))
    _rows_fig2(rows, pg.get("2"))
    _rows_fig3(rows, "postgresql", pg.get("3"))
    _rows_fig3(rows, "sqlite", lite.get("3"))
    _rows_fig4(rows, pg.get("4"))
    _rows_fig5(rows, pg.get("5"))
    _rows_fig6(rows, "postgresql", pg.get("6"))
    _rows_fig6(rows, "sqlite", lite.get("6"))
    lines = [f"size {results['size']} (seed {results['seed']}), wall {results.get('wall_s')} s; "
             f"data: {_get(results, 'data', 'records', default=0):,} records + "
             f"{_get(results, 'data', 'long_records', default=0):,} of one volunteer; "
             f"load average at start {results.get('loadavg_start')}, at end {results.get('loadavg_end')}",
             table(rows)]
    return "\n".join(lines)
