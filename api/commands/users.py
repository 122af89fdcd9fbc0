"""User subcommands: list users, list, revoke and expire their tokens, disable and enable them.

`--as-user NAME` acts within that user's reach (as the API would); without it the command
line acts as the system (an operator at the server's console, like `create-admin`).
"""
from __future__ import annotations

from api.cli import print_json
from ledger.people import auth, users
from ledger.store.usecase import read, write_once


def register(sub) -> None:
    """Add `ledger users …`."""
    p = sub.add_parser("users", help="list users; list or revoke their tokens; disable or enable them")
    verbs = p.add_subparsers(dest="verb", required=True)
    v = verbs.add_parser("list", help="the users within reach")
    v.set_defaults(handler=list_users)
    for name, handler, help_text in (("tokens", list_tokens, "a user's tokens (never the token itself)"),
                                     ("revoke", revoke, "revoke a user's tokens (all, or --token-id)"),
                                     ("disable", disable, "disable a user: every token of theirs answers 401"),
                                     ("enable", enable, "enable a disabled user again")):
        v = verbs.add_parser(name, help=help_text)
        v.add_argument("username")
        if name == "revoke":
            v.add_argument("--token-id", type=int, default=None)
        v.set_defaults(handler=handler)
    for v in verbs.choices.values():
        v.add_argument("--as-user", default=None, help="act within this user's reach (default: the system)")


def _target(session, args):
    principal = auth.principal_named(session, args.as_user)
    return principal, auth.user_named(session, args.username, field="username").id


def list_users(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: users.list_users(s, auth.principal_named(s, args.as_user), limit=100_000)))
    return 0


def list_tokens(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: users.list_tokens(s, *_target(s, args))))
    return 0


def revoke(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: users.revoke_tokens(s, *_target(s, args), args.token_id, ctx.now())))
    return 0


def disable(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: users.set_active(s, *_target(s, args), False)))
    return 0


def enable(args, settings, ctx) -> int:
    print_json(write_once(ctx, lambda s: users.set_active(s, *_target(s, args), True)))
    return 0
