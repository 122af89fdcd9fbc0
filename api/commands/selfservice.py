"""Self-service subcommands: issue a sign-in code for a volunteer (e.g. a demo volunteer)."""
from __future__ import annotations

import os

from api.cli import print_json
from ledger.people import signin, volunteers
from ledger.people.access import SYSTEM
from ledger.store.usecase import write_once


def register(sub) -> None:
    """Add `issue-code`."""
    p = sub.add_parser("issue-code", help="issue a sign-in code (or PIN) for a volunteer's self-service page")
    p.add_argument("number", nargs="?", default=None,
                   help="志愿者编号; omitted: the volunteer with the most hours (handy with the demo data)")
    p.add_argument("--pin", action="store_true", help="a reusable PIN instead of a one-time code")
    p.add_argument("--base-url", default=None,
                   help="where the service answers (default http://127.0.0.1:$PORT, PORT defaulting to 8000)")
    p.set_defaults(handler=issue_code)


def issue_code(args, settings, ctx) -> int:
    limits = signin.Limits.from_options(ctx.options)
    result = write_once(ctx, lambda s: signin.issue_code(
        s, SYSTEM, ctx.secret_key, volunteers.volunteer_id_for_code(s, args.number), kind="pin" if args.pin else "code",
        now=ctx.now(), limits=limits))
    base = args.base_url or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
    print_json({**result, "sign_in_page": f"{base.rstrip('/')}/my"})
    return 0
