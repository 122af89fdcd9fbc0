"""`ledger policy ...` subcommands: describe, publish, list, in-force, what-if, adjust, confirm; `ledger expire-points`."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from api.cli import print_json
from ledger.errors import ValidationFailed
from ledger.incentives import adjustments, policies, whatif
from ledger.people import auth
from ledger.people.access import SYSTEM
from ledger.store.usecase import read, write_once


def register(sub) -> None:
    """Add `policy` (with its own subcommands) and `expire-points`."""
    policy = sub.add_parser("policy", help="incentive policies: publish, list, in-force, what-if, adjust")
    actions = policy.add_subparsers(dest="policy_command", required=True)
    p = actions.add_parser("publish", help="publish a policy document (TOML) for a unit subtree")
    p.add_argument("file", type=Path)
    p.add_argument("--unit-id", type=int, required=True)
    p.add_argument("--effective-from", type=dt.date.fromisoformat, required=True)
    p.add_argument("--as-user", help="the publishing user (default: the system admin)")
    p.set_defaults(handler=publish)
    p = actions.add_parser("describe", help="check a draft document and print its rules in Chinese (办法)")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the rules and warnings as JSON")
    p.set_defaults(handler=describe)
    p = actions.add_parser("list", help="list published versions")
    p.add_argument("--unit-id", type=int)
    p.set_defaults(handler=list_versions)
    p = actions.add_parser("in-force", help="the policy in force for a unit on a date")
    p.add_argument("--unit-id", type=int, required=True)
    p.add_argument("--on", type=dt.date.fromisoformat, default=None)
    p.set_defaults(handler=in_force)
    p = actions.add_parser("what-if", help="price a period's records under a draft document")
    p.add_argument("file", type=Path)
    p.add_argument("--unit-id", type=int, required=True)
    p.add_argument("--from", dest="period_from", type=dt.date.fromisoformat, required=True)
    p.add_argument("--to", dest="period_to", type=dt.date.fromisoformat, required=True)
    p.add_argument("--png", type=Path, help="also write the chart here")
    p.add_argument("--csv", type=Path, help="also write the table as CSV here")
    p.add_argument("--xlsx", type=Path, help="also write the table as Excel here")
    p.set_defaults(handler=what_if)
    p = actions.add_parser("adjust", help="compute an adjustment run (nothing is posted)")
    p.add_argument("--unit-id", type=int, required=True)
    p.add_argument("--from", dest="period_from", type=dt.date.fromisoformat, required=True)
    p.add_argument("--to", dest="period_to", type=dt.date.fromisoformat, required=True)
    p.add_argument("--as-user")
    p.set_defaults(handler=adjust)
    p = actions.add_parser("confirm", help="post a computed adjustment run (once)")
    p.add_argument("run_id", type=int)
    p.add_argument("--as-user")
    p.set_defaults(handler=confirm)
    p = sub.add_parser("expire-points", help="expire points past their last day (oldest first), once per period")
    p.add_argument("--period", required=True, help="YYYY-MM: points that ended before its first day expire")
    p.set_defaults(handler=expire)


def publish(args, settings, ctx) -> int:
    command = policies.PublishPolicy(args.unit_id, args.effective_from, args.file.read_text(encoding="utf-8"))
    print_json(write_once(ctx, lambda s: policies.version_public(
        policies.publish_policy(s, auth.principal_named(s, args.as_user), command), with_warnings=True)))
    return 0


def describe(args, settings, ctx) -> int:
    result = policies.describe_document(args.file.read_text(encoding="utf-8"))
    if args.json:
        print_json(result)
        return 0
    print(result["rules_text"])
    for warning in result["warnings"]:
        print(f"注意 (warning) {warning['path']}: {warning['reason']}")
    return 0


def list_versions(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: policies.list_versions(s, SYSTEM, args.unit_id)))
    return 0


def in_force(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: policies.in_force(s, SYSTEM, args.unit_id, args.on or ctx.today())))
    return 0


def what_if(args, settings, ctx) -> int:
    command = whatif.WhatIf(args.unit_id, args.period_from, args.period_to, args.file.read_text(encoding="utf-8"))
    result = read(ctx, lambda s: whatif.what_if(s, SYSTEM, command))
    if args.png:
        args.png.write_bytes(whatif.chart_png(result))
    if args.csv:
        args.csv.write_text(whatif.to_csv(result), encoding="utf-8-sig")
    if args.xlsx:
        args.xlsx.write_bytes(whatif.to_xlsx(result))
    print_json(result)
    return 0


def adjust(args, settings, ctx) -> int:
    command = adjustments.RunAdjustment(args.unit_id, args.period_from, args.period_to)
    print_json(write_once(ctx, lambda s: adjustments.run_public(
        s, adjustments.run_adjustment(s, auth.principal_named(s, args.as_user), command))))
    return 0


def confirm(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: adjustments.run_public(
        s, adjustments.confirm_adjustment(s, auth.principal_named(s, args.as_user), args.run_id))))
    return 0


def expire(args, settings, ctx) -> int:
    from jobs.expiry import period_start
    from jobs.runner import job_named, run_period

    try:  # a malformed or future period is refused before anything runs (or is marked as run)
        first_day = period_start(args.period)
    except ValueError:
        raise ValidationFailed(f"期间格式应为 YYYY-MM (period must be YYYY-MM): {args.period}", "period") from None
    if first_day > ctx.today():
        raise ValidationFailed(f"{args.period} 尚未开始 (has not begun): the scheduler runs it on its first day",
                               "period")
    result = run_period(ctx, job_named("expire_points"), args.period)
    print_json(result if result is not None else {"period": args.period, "already_ran": True})
    return 0
