"""The book's keys: re-hash the ledger under the ledger key, rotate the deployment key."""
from __future__ import annotations

import datetime as dt
import os

from api.cli import print_json
from ledger.book import keys
from ledger.book.rehash import rehash
from ledger.store.usecase import write_once


def register(sub) -> None:
    """Add the key subcommands."""
    p = sub.add_parser("rehash", help="make every content hash an HMAC under the ledger key (once after "
                                      "revision 0017, and after changing LEDGER_LEDGER_KEY); seals a checkpoint")
    p.add_argument("--old-key-env", action="append", default=[], metavar="VAR",
                   help="an environment variable holding the previous LEDGER_LEDGER_KEY (repeatable)")
    p.set_defaults(handler=run_rehash)
    p = sub.add_parser("rotate-deployment-key",
                       help="retire the deployment's Ed25519 key (kept to check old checkpoints) and make a new one")
    p.set_defaults(handler=rotate)


def run_rehash(args, settings, ctx) -> int:
    old = [keys.ledger_key("", settings.secret_bytes)]  # the key derived from the secret, if it was the one
    for name in args.old_key_env:
        value = os.environ.get(name, "")
        if not value:
            raise SystemExit(f"environment variable {name} is empty")
        old.append(keys.ledger_key(value, settings.secret_bytes))
    now = dt.datetime.now(dt.timezone.utc)
    print_json(write_once(ctx, lambda s: rehash(s, old_keys=tuple(old), now=now)))
    return 0


def rotate(args, settings, ctx) -> int:
    print_json(keys.rotate_deployment_key(settings.data_dir))
    return 0
