"""PostgreSQL settings for a dedicated production server, computed from its memory and cores.

Stock PostgreSQL is sized for a laptop: 128 MB of shared buffers and 1 GB of WAL between
checkpoints make a bulk load write dirty pages from backends and checkpoint every few
seconds (the full-size bulk rate measured 6.4k records/s stock against 15.7k tuned).  What
each setting risks is said beside it; `synchronous_commit` stays `on`: a ledger that told a
desk "redeemed" must not lose it in a crash.
"""
from __future__ import annotations

MB = 1024 * 1024
GB = 1024 * MB


def production_settings(memory_bytes: int, cores: int) -> dict[str, str]:
    """The settings for a server with this much memory and these cores, dedicated to the ledger."""
    shared = max(min(memory_bytes // 4, 16 * GB), 128 * MB)
    return {
        # a quarter of memory (at most 16 GB): the hot months of postings stay in PostgreSQL's
        # own cache; needs a restart; risk: none beyond memory taken from the OS cache
        "shared_buffers": f"{shared // MB}MB",
        # what the planner may assume the OS caches: three quarters of memory (no allocation)
        "effective_cache_size": f"{memory_bytes * 3 // 4 // MB}MB",
        # checkpoints at most every 15 minutes or 8 GB of WAL instead of 5 min / 1 GB: fewer
        # full-page writes; risk: a longer crash recovery (minutes) and up to 8 GB of pg_wal
        "max_wal_size": "8GB",
        "min_wal_size": "1GB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        # compress full-page images in WAL: less I/O for a little CPU; no risk
        "wal_compression": "on",
        # sorts and hashes of rankings, targets and verify in memory; per operation, so modest
        "work_mem": "32MB",
        "maintenance_work_mem": f"{min(max(memory_bytes // 16 // MB, 64), 2048)}MB",
        # parallel workers for the reports' scans, bounded by the cores
        "max_worker_processes": str(max(cores, 8)),
        "max_parallel_workers": str(cores),
        "max_parallel_workers_per_gather": str(max(cores // 2, 1)),
        # SSD: random reads cost little more than sequential ones
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        # durability stays: every commit is on disk before the answer (see the module's note)
        "synchronous_commit": "on",
    }



def apply(engine, settings: dict[str, str]) -> list[str]:
    """ALTER SYSTEM each setting on the server `engine` names (a superuser), reload; returns the
    settings that take effect only at the next restart (the server's own `postmaster` context)."""
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        contexts = dict(connection.execute(text("SELECT name, context FROM pg_settings")).all())
        unknown = [name for name in settings if name not in contexts]
        if unknown:
            raise ValueError(f"unknown PostgreSQL settings: {', '.join(unknown)}")
        for name, value in settings.items():
            connection.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))  # names from our own table
        connection.execute(text("SELECT pg_reload_conf()"))
    return sorted(name for name in settings if contexts[name] == "postmaster")
