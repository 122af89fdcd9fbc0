"""`ledger rankings ...` and `ledger targets ...`: define, run, publish, supersede and export
commendation rankings (评先评优); make and export targets reports.

A definition file (JSON) for a county's year-end selection, e.g. `year-end.json`:

    {"code": "county-year-end", "name": "年度优秀志愿者", "unit_id": 1, "period_kind": "year",
     "subject": "volunteer", "metrics": ["hours", "points", "activities", "rating"],
     "eligibility": {"min_hours": 20, "min_hours_basis": "year", "min_star_level": 1,
                     "no_reversed_records": true, "active_membership": true},
     "quota": {"top_share": "10%", "per": "unit"}, "tie_break": ["earlier_registration", "id"]}

then: `ledger rankings define year-end.json`, `ledger rankings run county-year-end 2025`,
`ledger rankings publish <run>`, `ledger rankings export <run> --xlsx 2025.xlsx --png 2025.png`,
`ledger rankings reproduce <run>`, and `ledger targets 1 2025-Q4 --store --xlsx targets.xlsx`.
"""
from __future__ import annotations

import json
from pathlib import Path

from api.cli import print_json
from ledger.errors import NotFound
from ledger.people import auth
from ledger.rankings import exports as rank_exports, runs as rankings, targets
from ledger.store.usecase import read, write_once


def register(sub) -> None:
    """Add `rankings` and `targets` with their subcommands."""
    parser = sub.add_parser("rankings", help="commendation rankings (评先评优): define, run, publish, export")
    commands = parser.add_subparsers(dest="rankings_command", required=True)
    p = commands.add_parser("define", help="store a ranking definition from a JSON file (new version if changed)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=define)
    p = commands.add_parser("list", help="list definitions, or the runs of one definition code")
    p.add_argument("--code")
    p.add_argument("--period")
    p.set_defaults(handler=list_)
    p = commands.add_parser("run", help="rank a finished period at the ledger position now (or --position)")
    p.add_argument("code", help="definition code (its newest version is used)")
    p.add_argument("period", help="2025, 2025-Q4 or 2025-12")
    p.add_argument("--position", type=int)
    p.add_argument("--as-of", dest="as_of", help="截至日期: rank the period up to this day (it may be running)")
    p.set_defaults(handler=run)
    p = commands.add_parser("show", help="a run and its entries")
    p.add_argument("run_id", type=int)
    p.add_argument("--shortlisted", action="store_true")
    p.set_defaults(handler=show)
    p = commands.add_parser("reproduce", help="recompute a run at its position; exit 1 if it differs")
    p.add_argument("run_id", type=int)
    p.set_defaults(handler=reproduce)
    p = commands.add_parser("publish", help="publish a run as the official list")
    p.add_argument("run_id", type=int)
    p.set_defaults(handler=publish)
    p = commands.add_parser("supersede", help="mark a run as replaced by a later one, with a reason")
    p.add_argument("run_id", type=int)
    p.add_argument("--by", type=int, required=True, dest="by_run_id")
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=supersede)
    p = commands.add_parser("export", help="write a run as xlsx, csv and/or a chart png")
    p.add_argument("run_id", type=int)
    p.add_argument("--xlsx", type=Path)
    p.add_argument("--csv", type=Path)
    p.add_argument("--png", type=Path)
    p.set_defaults(handler=export)
    for action in commands.choices.values():
        action.add_argument("--as-user", help="act as this user (default: the system)")
    parser = sub.add_parser("targets", help="targets report (目标考核) of a unit subtree for a finished period")
    parser.add_argument("unit_id", type=int)
    parser.add_argument("period", help="2025-Q4 (or a year or month)")
    parser.add_argument("--store", action="store_true", help="store the report (else only print it)")
    parser.add_argument("--as-of", dest="as_of", help="截至日期: the period to date (year or quarter to date)")
    parser.add_argument("--xlsx", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--as-user")
    parser.set_defaults(handler=report)


def define(args, settings, ctx) -> int:
    document = json.loads(args.file.read_text(encoding="utf-8"))
    print_json(write_once(ctx, lambda s: rankings.define_ranking(s, auth.principal_named(s, args.as_user), document)))
    return 0


def list_(args, settings, ctx) -> int:
    if args.code or args.period:
        print_json(read(ctx, lambda s: rankings.list_runs(s, auth.principal_named(s, args.as_user), args.code, args.period)))
    else:
        print_json(read(ctx, lambda s: rankings.list_definitions(s, auth.principal_named(s, args.as_user))))
    return 0


def run(args, settings, ctx) -> int:
    def work(session):
        definition = rankings.latest_definition(session, args.code)
        if definition is None:
            raise NotFound(f"no ranking definition {args.code!r}", field="code")
        return rankings.run_ranking(session, auth.principal_named(session, args.as_user), definition.id, args.period,
                                    ctx.today(), position=args.position, as_of=args.as_of)

    print_json(write_once(ctx, work))
    return 0


def show(args, settings, ctx) -> int:
    def work(session):
        principal = auth.principal_named(session, args.as_user)
        found = rankings.run_public(session, rankings.require_run(session, principal, args.run_id))
        found["entries"] = rankings.run_entries(session, principal, args.run_id, only_shortlisted=args.shortlisted)
        return found

    print_json(read(ctx, work))
    return 0


def reproduce(args, settings, ctx) -> int:
    result = read(ctx, lambda s: rankings.reproduce(s, auth.principal_named(s, args.as_user), args.run_id))
    print_json(result)
    return 0 if result["matches"] else 1


def publish(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: rankings.publish_run(s, auth.principal_named(s, args.as_user), args.run_id)))
    return 0


def supersede(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: rankings.supersede_run(s, auth.principal_named(s, args.as_user), args.run_id,
                                                                args.by_run_id, args.reason)))
    return 0


def export(args, settings, ctx) -> int:
    written = {}
    for path, make in ((args.xlsx, rank_exports.ranking_xlsx), (args.csv, rank_exports.ranking_csv),
                       (args.png, rank_exports.ranking_chart)):
        if path is not None:
            path.write_bytes(read(ctx, lambda s, make=make: make(s, auth.principal_named(s, args.as_user), args.run_id)))
            written[path.suffix.lstrip(".")] = str(path)
    print_json({"run_id": args.run_id, "written": written})
    return 0


def report(args, settings, ctx) -> int:
    if args.store:
        stored = write_once(ctx, lambda s: targets.make_report(s, auth.principal_named(s, args.as_user), args.unit_id,
                                                               args.period, ctx.today(), as_of=args.as_of))
        figures = stored["figures"]
        print_json(stored)
    else:
        figures = read(ctx, lambda s: targets.preview(s, auth.principal_named(s, args.as_user), args.unit_id, args.period,
                                                      ctx.today(), as_of=args.as_of))
        print_json(figures)
    if args.xlsx:
        args.xlsx.write_bytes(rank_exports.targets_xlsx(figures))
    if args.png:
        args.png.write_bytes(rank_exports.targets_chart(figures))
    return 0
