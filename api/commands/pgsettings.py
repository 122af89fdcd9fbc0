"""`ledger pg-settings`: PostgreSQL settings for a dedicated production server (print or apply)."""
from __future__ import annotations

import os

from api.cli import print_json
from ledger.errors import ValidationFailed
from ledger.store import pgsettings


def register(sub) -> None:
    """Add `pg-settings`."""
    p = sub.add_parser("pg-settings", help="print (or --apply) PostgreSQL settings sized for a dedicated "
                                           "server: shared_buffers, WAL and checkpoints, parallelism")
    p.add_argument("--memory-gb", type=float, default=None, help="the server's memory (default: this machine's)")
    p.add_argument("--cores", type=int, default=None, help="the server's cores (default: this machine's)")
    p.add_argument("--apply", action="store_true",
                   help="ALTER SYSTEM on the database LEDGER_DATABASE_URL names (superuser), then reload")
    p.set_defaults(handler=pg_settings)


def _machine_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def pg_settings(args, settings, ctx) -> int:
    memory = int(args.memory_gb * pgsettings.GB) if args.memory_gb else _machine_memory()
    chosen = pgsettings.production_settings(memory, args.cores or os.cpu_count() or 2)
    if not args.apply:
        for name, value in chosen.items():
            print(f"{name} = '{value}'")
        return 0
    if ctx.is_sqlite:
        raise ValidationFailed("pg-settings --apply needs a PostgreSQL LEDGER_DATABASE_URL", field="database_url")
    restart = pgsettings.apply(ctx.engine, chosen)
    print_json({"applied": chosen, "restart_needed_for": restart})
    return 0
