"""`ledger backup FILE` and `ledger restore FILE`: a consistent copy of the whole database.

SQLite: the sqlite3 online backup API (a consistent snapshot while the service runs).
PostgreSQL: `pg_dump -Fc` (one consistent snapshot) and `pg_restore` into a fresh, empty
database.  Restore refuses a database that already has a schema, so a backup is never mixed
into live data; run `ledger verify` afterwards (the README's "Backup and restore").
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from api.cli import print_json
from ledger.errors import Conflict, ValidationFailed
from ledger.store.db import normalise_url


def register(sub) -> None:
    """Add the backup and restore subcommands."""
    p = sub.add_parser("backup", help="write a consistent copy of the database to FILE "
                                      "(SQLite: backup API; PostgreSQL: pg_dump -Fc)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=backup)
    p = sub.add_parser("restore", help="restore FILE (made by `ledger backup`) into a fresh, empty "
                                       "database; then run `ledger verify`")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=restore)


def backup(args, settings, ctx) -> int:
    """Write the backup; prints where and how big."""
    url = normalise_url(settings.database_url)
    target: Path = args.file
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        _sqlite_copy(_sqlite_path(url), target)
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
              f"--dbname={_libpq_url(url)}"], url)
    print_json({"backup": str(target), "bytes": target.stat().st_size})
    return 0


def restore(args, settings, ctx) -> int:
    """Restore a backup into the (fresh, empty) database the settings name."""
    url = normalise_url(settings.database_url)
    source: Path = args.file
    if not source.is_file():
        raise ValidationFailed(f"no backup file {source}", field="file")
    tables = inspect(ctx.engine).get_table_names()
    if tables:
        raise Conflict(f"the target database already has {len(tables)} tables; restore into a fresh, "
                       "empty database (createdb / a new file) and point LEDGER_DATABASE_URL at it",
                       field="database_url")
    ctx.engine.dispose()
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(source, path)
    else:
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={_libpq_url(url)}", str(source)], url)
    print_json({"restored": str(source), "into": make_url(url).render_as_string(hide_password=True),
                "next": "ledger verify"})
    return 0


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValidationFailed("an in-memory SQLite database cannot be backed up", field="database_url")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise ValidationFailed(f"no SQLite database at {source}", field="database_url")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    os.replace(partial, target)  # the file appears whole or not at all


def _libpq_url(url: str) -> str:
    """The URL for libpq tools, without the SQLAlchemy driver name and the password."""
    parsed = make_url(url).set(drivername="postgresql", password=None)
    return parsed.render_as_string(hide_password=False)


def _run(command: list[str], url: str) -> None:
    if shutil.which(command[0]) is None:
        raise ValidationFailed(f"{command[0]} is not installed (apt-get install postgresql-client)",
                               field="database_url")
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)  # never on the command line, where `ps` shows it
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise Conflict(f"{command[0]} failed: {done.stderr.strip()[-2000:]}", field="database_url")
