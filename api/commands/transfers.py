"""Transfer subcommands: transfer, memberships, export-package, import-package, deployment-keys."""
from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path

from api.cli import print_json
from ledger.book import deployment_keys
from ledger.people import auth
from ledger.store.usecase import read, write_once
from ledger.transfers import moves as transfers, packages


def register(sub) -> None:
    """Add the transfer subcommands."""
    p = sub.add_parser("transfer", help="move a volunteer's home unit on a date (岗位变动)")
    p.add_argument("volunteer_id", type=int)
    p.add_argument("to_unit_id", type=int)
    p.add_argument("--on", type=dt.date.fromisoformat, required=True, help="first day at the new unit")
    p.add_argument("--leave-team", type=int, action="append", default=[], help="team membership that ends")
    p.add_argument("--join-team", type=int, action="append", default=[], help="team joined")
    p.add_argument("--reason", default="")
    p.add_argument("--as-user", required=True)
    p.set_defaults(handler=transfer)
    p = sub.add_parser("memberships", help="a volunteer's membership history")
    p.add_argument("volunteer_id", type=int)
    p.add_argument("--as-user", required=True)
    p.set_defaults(handler=memberships)
    p = sub.add_parser("export-package", help="a volunteer leaves for another deployment: write the signed package")
    p.add_argument("volunteer_id", type=int)
    p.add_argument("to_deployment_id")
    p.add_argument("--left-on", type=dt.date.fromisoformat, default=None)
    p.add_argument("--out", type=Path, required=True, help="file to write the package to")
    p.add_argument("--as-user", required=True)
    p.set_defaults(handler=export_package)
    p = sub.add_parser("import-package", help="check and import a transfer package (twice changes nothing)")
    p.add_argument("file", type=Path)
    p.add_argument("--home-unit", type=int, required=True)
    p.add_argument("--arrived-on", type=dt.date.fromisoformat, default=None)
    p.add_argument("--ask-id-number", action="store_true",
                   help="prompt for the volunteer's ID number (not echoed, never on the command line)")
    p.add_argument("--as-user", required=True)
    p.set_defaults(handler=import_package)
    p = sub.add_parser("deployment-keys", help="this deployment's public key and the trusted peers' keys")
    p.add_argument("--trust", nargs=2, metavar=("DEPLOYMENT_ID", "PUBLIC_KEY"), help="trust a peer's key (admin)")
    p.add_argument("--name", default="", help="the peer's name, with --trust")
    p.add_argument("--as-user", required=True)
    p.set_defaults(handler=keys)


def _data_dir(settings) -> str:
    return str(settings.data_dir)


def transfer(args, settings, ctx) -> int:
    command = transfers.TransferVolunteer(volunteer_id=args.volunteer_id, to_unit_id=args.to_unit_id,
                                          effective_on=args.on, leave_team_ids=tuple(args.leave_team),
                                          join_team_ids=tuple(args.join_team), reason=args.reason)
    print_json(write_once(ctx, lambda s: transfers.transfer_volunteer(
        s, auth.principal_named(s, args.as_user), command, today=ctx.today(),
        future_limit_days=settings.transfer_future_limit_days)))
    return 0


def memberships(args, settings, ctx) -> int:
    print_json(read(ctx, lambda s: transfers.membership_history(s, auth.principal_named(s, args.as_user), args.volunteer_id)))
    return 0


def export_package(args, settings, ctx) -> int:
    command = packages.ExportVolunteer(args.volunteer_id, args.to_deployment_id, args.left_on)
    key = deployment_keys.signing_key(_data_dir(settings))
    result = write_once(ctx, lambda s: packages.export_volunteer(
        s, auth.principal_named(s, args.as_user), command, signing_key=key, deployment_id=ctx.deployment_id,
        deployment_name=ctx.deployment_name, today=ctx.today(), now=ctx.now()))
    args.out.write_bytes(packages.canonical(result.pop("package")))
    print_json({**result, "written_to": str(args.out)})
    return 0


def import_package(args, settings, ctx) -> int:
    id_number = getpass.getpass("身份证号 (ID number): ") if args.ask_id_number else None
    command = packages.ImportPackage(package=args.file.read_bytes(), home_unit_id=args.home_unit,
                                     id_number=id_number, arrived_on=args.arrived_on)
    result = write_once(ctx, lambda s: packages.import_package(
        s, auth.principal_named(s, args.as_user), command, secret=ctx.secret_key, deployment_id=ctx.deployment_id,
        today=ctx.today(), future_limit_days=settings.transfer_future_limit_days))
    print_json({k: v for k, v in result.items() if k != "memberships_elsewhere"})
    return 0


def keys(args, settings, ctx) -> int:
    if args.trust:
        deployment_id, public_key = args.trust
        print_json(write_once(ctx, lambda s: deployment_keys.trust_key(
            s, auth.principal_named(s, args.as_user), deployment_id=deployment_id, name=args.name, public_key=public_key,
            own_deployment_id=ctx.deployment_id)))
        return 0
    trusted = read(ctx, lambda s: deployment_keys.list_trusted(s, auth.principal_named(s, args.as_user)))
    print_json({"own": deployment_keys.own_key(_data_dir(settings), ctx.deployment_id, ctx.deployment_name),
                "trusted": trusted})
    return 0
