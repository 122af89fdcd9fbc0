"""`ledger` — the operators' command line: serve, upgrade, create an admin, import, verify.

Run `ledger --help` (or `.venv/bin/ledger --help`) for the list of subcommands.
"""
from __future__ import annotations

import argparse
import json
import sys

from api.app import context_from_settings
from api.commands import register_all
from api.i18n import localise
from ledger.errors import LedgerError
from ledger.settings import Settings


def print_json(value) -> None:
    """Print a result as indented JSON (Chinese kept readable)."""
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="ledger", description="志愿服务积分台账 — volunteer ledger operations")
    parser.add_argument("--database-url", help="overrides LEDGER_DATABASE_URL")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register_all(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ledger` command."""
    args = build_parser().parse_args(argv)
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = Settings(**overrides)
    ctx = context_from_settings(settings)
    try:
        return int(args.handler(args, settings, ctx) or 0)
    except LedgerError as exc:
        print_json(localise(exc.as_dict(), None))  # operators read Chinese, as on the pages
        return 2
    except FileNotFoundError as exc:  # a file named on the command line that is not there
        print_json({"code": "not_found", "message": f"文件不存在 (no such file): {exc.filename}", "field": "file"})
        return 2
    finally:
        ctx.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
