"""Core subcommands: serve, upgrade, create-admin, create-token, import, approve-batch, verify, seal, seed-demo."""
from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from pathlib import Path

from api.cli import print_json
from ledger import audit, demo
from ledger.book.integrity import seal_period
from ledger.errors import ValidationFailed
from ledger.people import auth, passwords
from ledger.people.access import SYSTEM
from ledger.service import imports
from ledger.store.migrate import upgrade
from ledger.store.usecase import read, write_once


def register(sub) -> None:
    """Add the core subcommands."""
    p = sub.add_parser("serve", help="upgrade the database, seed demo data if empty, run the API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-demo", action="store_true", help="do not seed demo data into an empty database")
    p.add_argument("--no-scheduler", action="store_true", help="do not start the scheduled jobs")
    p.add_argument("--workers", type=int, default=None,
                   help="server processes (default LEDGER_WORKERS or 1; on PostgreSQL in production: one per core)")
    p.set_defaults(handler=serve)
    p = sub.add_parser("upgrade", help="create or upgrade the schema (Alembic, to the newest revision)")
    p.set_defaults(handler=lambda a, s, c: upgrade(s.database_url) or print("schema is up to date"))
    p = sub.add_parser("create-admin", help="create an admin user with a console password; print a token for it")
    p.add_argument("username")
    p.add_argument("--password", help="the console password (else asked for on a terminal; none when not one)")
    p.set_defaults(handler=create_admin)
    p = sub.add_parser("create-token", help="issue a new token for an existing user")
    p.add_argument("username")
    p.set_defaults(handler=create_token)
    p = sub.add_parser("import", help="import a station ledger (台账, CSV or XLSX) as pending records")
    p.add_argument("file", type=Path)
    p.add_argument("--as-user", required=True, help="the recording user (admin or unit admin)")
    p.set_defaults(handler=import_file)
    p = sub.add_parser("approve-batch", help="approve and post every pending record of an import batch")
    p.add_argument("batch")
    p.add_argument("--as-user", required=True, help="the approving user (not the one who imported)")
    p.set_defaults(handler=approve)
    p = sub.add_parser("verify", help="recompute hashes, balances and checkpoints; exit 1 on any difference")
    p.set_defaults(handler=run_verify)
    p = sub.add_parser("seal", help="seal every transaction recorded until now under a checkpoint")
    p.add_argument("--period", default=None, help="label (default: now, to the second)")
    p.set_defaults(handler=seal)
    p = sub.add_parser("seed-demo", help="seed demo data into an empty database")
    p.set_defaults(handler=seed)


def serve(args, settings, ctx) -> int:
    """Upgrade, seed, start the scheduler and serve HTTP until stopped."""
    import uvicorn

    from api.app import SERVER_OPTIONS, create_app
    from api.observability import configure_json_logging

    configure_json_logging()
    upgrade(settings.database_url)
    if settings.demo_data and not args.no_demo and settings.environment == "local":
        made = demo.seed_demo(ctx)
        if made:
            print(f"demo data seeded: {made}")
            print("demo tokens: " + ", ".join(made["tokens"]))
    workers = max(args.workers or settings.workers, 1)
    if workers > 1 and ctx.is_sqlite:
        raise ValidationFailed("SQLite 只能由一个服务进程写入；多个进程请用 PostgreSQL "
                               "(several server processes need PostgreSQL: SQLite has one writer)", field="workers")
    scheduled = settings.scheduler_enabled and not args.no_scheduler
    if workers == 1:
        app = create_app(ctx, settings)
        if scheduled:
            from jobs.scheduler import attach

            attach(app, ctx, settings)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info", log_config=None, access_log=False,
                    **SERVER_OPTIONS)
        return 0
    return _serve_workers(args, settings, ctx, workers, scheduled)


def _serve_workers(args, settings, ctx, workers: int, scheduled: bool) -> int:
    """Several server processes (uvicorn's workers, each with its own pool and scheduler: a
    job's period runs once whichever process fires first); metrics gathered across them."""
    import tempfile

    import uvicorn

    from api import observability
    from api.app import SERVER_OPTIONS

    observability.use_multiprocess(tempfile.mkdtemp(prefix="ledger-metrics-"))
    os.environ["LEDGER_SCHEDULER_ENABLED"] = "true" if scheduled else "false"
    uvicorn.run("api.app:app_from_environment", factory=True, workers=workers, host=args.host,
                port=args.port, log_level="info", log_config=None, access_log=False,
                timeout_worker_healthcheck=60,  # a worker imports pandas and matplotlib: slow on a busy box
                **SERVER_OPTIONS)
    return 0


def ask_password() -> str | None:
    """The password typed twice on a terminal; None when standard input is not one."""
    if not sys.stdin.isatty():
        return None
    while True:
        first = getpass.getpass("控制台密码 (console password, at least 8 characters): ")
        if first == getpass.getpass("再输入一次 (again): "):
            return first
        print("两次输入不一致，请重新输入 (the two did not match)")


def create_admin(args, settings, ctx) -> int:
    upgrade(settings.database_url)
    password = args.password if args.password is not None else ask_password()
    if password is not None:
        passwords.validate_password(password)

    def run(session):
        user = auth.create_user(session, SYSTEM, auth.CreateUser(username=args.username, role="admin"))
        if password is not None:
            passwords.set_password(session, user, password, ctx.now(), actor="cli")
        return auth.issue_token_by(session, SYSTEM, user, ttl=auth.token_ttl(ctx.options), now=ctx.now(), label="cli")

    issued = write_once(ctx, run)
    print_json({"username": args.username, "role": "admin", "token": issued["token"],
                "expires_at": issued["expires_at"],
                "console_password": "set" if password is not None else "none (token only)"})
    return 0


def create_token(args, settings, ctx) -> int:
    issued = write_once(ctx, lambda s: auth.issue_token_by(
        s, SYSTEM, auth.user_named(s, args.username, field="username"), ttl=auth.token_ttl(ctx.options),
        now=ctx.now(), label="cli"))
    print_json({"username": args.username, "token": issued["token"], "expires_at": issued["expires_at"]})
    return 0


def import_file(args, settings, ctx) -> int:
    def run(session):
        principal = auth.principal_named(session, args.as_user)
        return imports.import_taizhang(session, principal, ctx.secret_key, args.file.read_bytes(),
                                       args.file.name, ctx.local_now()).as_dict()

    print_json(write_once(ctx, run))
    return 0


def approve(args, settings, ctx) -> int:
    def run(session):
        principal = auth.principal_named(session, args.as_user)
        return imports.approve_batch(session, principal, args.batch)

    print_json(write_once(ctx, run))
    return 0


def run_verify(args, settings, ctx) -> int:
    report = read(ctx, lambda s: audit.verify(s, secret=ctx.secret_key))
    print_json(report.as_dict())
    return 0 if report.ok else 1


def seal(args, settings, ctx) -> int:
    now = dt.datetime.now(dt.timezone.utc)
    period = args.period or now.strftime("%Y-%m-%dT%H:%M:%S")
    checkpoint = write_once(ctx, lambda s: seal_period(s, period, now))
    print_json({"period": checkpoint.period, "tx_count": checkpoint.tx_count, "hash": checkpoint.hash})
    return 0


def seed(args, settings, ctx) -> int:
    upgrade(settings.database_url)
    print_json(demo.seed_demo(ctx) or {"seeded": False, "reason": "the database already has data"})
    return 0
