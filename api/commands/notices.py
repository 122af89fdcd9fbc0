"""`ledger notices ...`: public notice (公示) of a published selection, objections, the final word.

    ledger rankings publish 7
    ledger notices put 7                          # on notice from today for the definition's days
    ledger notices show 1                         # what the public page shows
    ledger notices objections 1                   # contacts masked
    ledger notices resolve 3 --outcome dismissed --reply "经核实签到表，当日在岗"
    ledger notices confirm 1                      # after the notice ended, every objection resolved
    ledger notices supersede 1 --by 9 --reason "异议成立，重新评选"

The public page is /public/notices/<id>; anyone may object there while the notice is open.
"""
from __future__ import annotations

from api.cli import print_json
from ledger.people import auth
from ledger.rankings import notices
from ledger.store.usecase import read, write_once


def register(sub) -> None:
    """Add `notices` with its subcommands."""
    parser = sub.add_parser("notices", help="public notice (公示) of a published ranking run; objections")
    commands = parser.add_subparsers(dest="notices_command", required=True)
    p = commands.add_parser("put", help="put a published run on public notice from today")
    p.add_argument("run_id", type=int)
    p.set_defaults(handler=put)
    p = commands.add_parser("list", help="notices of runs in scope")
    p.set_defaults(handler=list_)
    p = commands.add_parser("show", help="a notice as the public page shows it")
    p.add_argument("notice_id", type=int)
    p.set_defaults(handler=show)
    p = commands.add_parser("objections", help="the objections to a notice (contacts masked)")
    p.add_argument("notice_id", type=int)
    p.set_defaults(handler=objections)
    p = commands.add_parser("resolve", help="answer an objection: upheld (成立) or dismissed (不成立)")
    p.add_argument("objection_id", type=int)
    p.add_argument("--outcome", required=True, choices=sorted(notices.OUTCOMES))
    p.add_argument("--reply", required=True)
    p.set_defaults(handler=resolve)
    p = commands.add_parser("confirm", help="confirm the list final once the notice has ended")
    p.add_argument("notice_id", type=int)
    p.set_defaults(handler=confirm)
    p = commands.add_parser("supersede", help="supersede the list on notice by a later run, with the reason")
    p.add_argument("notice_id", type=int)
    p.add_argument("--by", type=int, required=True, dest="by_run_id")
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=supersede)
    for action in commands.choices.values():
        action.add_argument("--as-user", help="act as this user (default: the system)")


def put(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: notices.put_on_notice(s, auth.principal_named(s, args.as_user),
                                                               args.run_id, ctx.today())))
    return 0


def list_(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: notices.list_notices(s, auth.principal_named(s, args.as_user), ctx.today())))
    return 0


def show(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: notices.public_notice(s, args.notice_id, ctx.today())))
    return 0


def objections(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: notices.list_objections(s, auth.principal_named(s, args.as_user), args.notice_id)))
    return 0


def resolve(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: notices.resolve_objection(s, auth.principal_named(s, args.as_user),
                                                                   args.objection_id, args.outcome, args.reply)))
    return 0


def confirm(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: notices.confirm_final(s, auth.principal_named(s, args.as_user),
                                                               args.notice_id, ctx.today())))
    return 0


def supersede(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: notices.supersede_on_notice(
        s, auth.principal_named(s, args.as_user), args.notice_id, args.by_run_id, args.reason, ctx.today())))
    return 0
