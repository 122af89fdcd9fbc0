"""Desk subcommands: seed-desk (a demo 爱心超市 with an operator), desk-release, desk-reconcile."""
from __future__ import annotations

import datetime as dt

from api.cli import print_json
from jobs import runner
from jobs.redemption import RECONCILE_JOB, RELEASE_JOB
from ledger.demo import DEMO_ITEMS
from ledger.people import auth, org
from ledger.people.access import SYSTEM
from ledger.redemption import desks, stock
from ledger.store import jobruns
from ledger.store.usecase import read, write_once


def register(sub) -> None:
    """Add the desk subcommands."""
    p = sub.add_parser("seed-desk", help="open another demo desk (爱心超市) with stocked items and print an operator token (make run already seeds one: token demo-desk)")
    p.add_argument("--unit-code", default=None, help="unit to open it at (default: the first station)")
    p.add_argument("--code", default="AXCS-1")
    p.set_defaults(handler=seed_desk)
    for name, job, text in (("desk-release", RELEASE_JOB, "release reservations not picked up on a day"),
                            ("desk-reconcile", RECONCILE_JOB, "reconcile every desk's ledger against its stock for a day")):
        p = sub.add_parser(name, help=f"{text} (once per day; prints the stored result)")
        p.add_argument("--day", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: yesterday)")
        p.set_defaults(handler=run_job, job=job)


def seed_desk(args, settings, ctx) -> int:
    def run(session):
        unit = org.unit_by_code(session, args.unit_code)
        desk = desks.create_desk(session, SYSTEM, desks.CreateDesk(unit.id, args.code, f"{unit.name}爱心超市",
                                                                   (3, 6)))
        for name, price, kind, quantity in DEMO_ITEMS:
            item = desks.add_item(session, SYSTEM, desk.id, desks.AddItem(name, price, kind=kind))
            stock.receive(session, SYSTEM, desk.id, item.id, quantity, "donation", "演示数据", ctx.today())
        operator = auth.create_user(session, SYSTEM, auth.CreateUser(
            username=f"desk-{desk.code}", role="desk_operator", unit_id=unit.id, desk_id=desk.id))
        return {"desk": desks.desk_public(desk), "operator": operator.username,
                "token": auth.issue_token(session, operator, label="cli", ttl=auth.token_ttl(ctx.options),
                                          now=ctx.now()), "page": "/desk"}

    print_json(write_once(ctx, run))
    return 0


def run_job(args, settings, ctx) -> int:
    day = args.day or ctx.today() - dt.timedelta(days=1)
    period = day.isoformat()
    result = runner.run_period(ctx, runner.job_named(args.job), period)
    if result is None:
        result = {"already_ran": True, **read(ctx, lambda s: jobruns.finished_run(s, args.job, period).result)}
    print_json(result)
    return 0 if result.get("ok", True) else 1
