"""`tsunagu pbx secret|directory|simulate`: the PBX webhooks' secrets, the extension
directory and the call simulator (docs/pbx.md)."""


from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from chat.cli.common import (
    Subcommands,
    import_report,
    operator,
    read_csv,
    run_offline,
)
from chat.config import Settings
from chat.context import AppContext
from chat.domain.dates import japan_time
from chat.errors import BadRequest
from chat.store.uow import TxMode, unit_of_work


def cmd_pbx_secret(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import pbx_secrets as secret_actions
    from chat.domain.pbx_formats.registry import format_named

    if args.secret_command == "add":
        pbx_format, token = format_named(args.kind), None
        if pbx_format.operator_supplies_secret:
            token = (getpass.getpass(f"{pbx_format.secret_label}: ") if sys.stdin.isatty()
                     else sys.stdin.readline()).strip()
        value = run_offline(settings, lambda ctx: secret_actions.create_secret(
            ctx, name=args.name, by=operator(), kind=pbx_format.name, value=token))
        if pbx_format.operator_supplies_secret:
            print(f"{pbx_format.secret_label} {args.name!r} stored; deliveries signed with "
                  f"it are accepted at {pbx_format.route}")
            return 0
        print(f"{pbx_format.secret_label} {args.name!r} created. Configure the PBX with it "
              "now; it is not shown again:")
        print(value)
        return 0
    if args.secret_command == "retire":
        run_offline(settings, lambda ctx: secret_actions.retire_secret(ctx, name=args.name,
                                                                by=operator()))
        print(f"PBX secret {args.name!r} retired: webhooks signed with it are refused")
        return 0
    rows = run_offline(settings, secret_actions.list_secrets)
    if not rows:
        print("no PBX secrets; create one with `tsunagu pbx secret add NAME`")
        return 0
    print(f"{'name':<20} {'kind':<9} {'created JST':<17} {'by':<20} state")
    for row in rows:
        created = japan_time(row["created_at"])
        state = "retired " + japan_time(row["retired_at"]) if row["retired_at"] else "active"
        print(f"{row['name']:<20} {row['kind']:<9} {created:<17} {row['created_by']:<20} "
              f"{state}")
    print(f"{len(rows)} secret(s), {sum(1 for r in rows if not r['retired_at'])} active")
    return 0


def cmd_pbx_directory(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import pbx_directory as directory_actions
    from chat.domain.directory import parse_directory

    if args.directory_command == "list":
        rows = run_offline(settings, directory_actions.directory_listing)
        for row in rows:
            target = row["user_id"] or (f"#{row['channel_id']}" if row["channel_id"] else "")
            print(f"{row['number']:<16} {row['kind']:<8} {target!s:<8} {row['name']}")
        print(f"{len(rows)} number(s) in the PBX directory")
        return 0
    path = Path(args.file)
    text = read_csv(path)
    if text is None:
        return 2

    async def job(ctx: AppContext) -> str:
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            staff = {u.staff_number for u in await uow.users.all()}
            departments = {d.code for d in await uow.departments.all()}
        rows = parse_directory(text, known_staff=staff, known_departments=departments,
                               country_code=settings.pbx_country_code)
        report = await directory_actions.import_directory(ctx, rows, by=operator())
        return f"PBX directory imported from {path}: {report.summary()}"

    return import_report(settings, path, job)


def cmd_pbx_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.pbx_secrets import unseal
    from chat.client.pbx import CallSpec, PbxSimulator, scenario
    from chat.domain.pbx_formats.standard import STANDARD

    secret = args.secret
    if secret is None:
        async def load(ctx: AppContext) -> str:
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                row = await uow.pbx.secret(args.secret_name)
            if row is None or row.retired_at is not None or row.kind != STANDARD.name:
                raise BadRequest(f"no active PBX secret named {args.secret_name!r}")
            return unseal(ctx, row.sealed)
        secret = run_offline(settings, load)
    spec = CallSpec(from_number=args.from_number, to_number=args.to_number,
                    extension=args.extension, caller_name=args.caller_name,
                    hold_seconds=args.hold, pause_seconds=args.pause)
    url = args.url or f"http://127.0.0.1:{settings.port}"
    failed = 0
    for _ in range(args.repeat):
        for posted in PbxSimulator(url, secret).run(scenario(args.scenario, spec)):
            event = posted.delivery.event
            outcome = posted.answer.get("status") or posted.answer.get("error", {}).get("code")
            print(f"{event['type']:<15} {event['call_id']} ext {event['extension']} "
                  f"({posted.delivery.msg_id}) -> {posted.status} {outcome} "
                  f"{posted.answer.get('call_state') or ''}".rstrip())
            failed += posted.status >= 300
    print(f"scenario {args.scenario!r} posted to {url}"
          + (f"; {failed} deliveries refused" if failed else ""))
    return 1 if failed else 0


def register(sub: Subcommands) -> None:
    from chat.domain.pbx_formats.registry import default_format, format_names, formats

    pbx = sub.add_parser("pbx", help="PBX webhooks: secrets, the extension directory, a "
                                     "simulator (docs/pbx.md)")
    pbsub = pbx.add_subparsers(dest="pbx_command", required=True, metavar="ACTION")
    secret = pbsub.add_parser("secret", help="webhook secrets (several may be active)")
    ssub = secret.add_subparsers(dest="secret_command", required=True, metavar="ACTION")
    sadd = ssub.add_parser("add", help="create a secret and print it once (whsec_…), or "
                                       "store one the PBX issued (read from stdin)")
    sadd.add_argument("name", help="e.g. pbx-2026 (letters, digits, . _ -)")
    sadd.add_argument("--kind", choices=format_names(), default=default_format().name,
                      help="the PBX format the secret signs: " + "; ".join(
                          f"{f.name}: {f.label} at {f.route}"
                          + (f", {f.secret_label} read from stdin"
                             if f.operator_supplies_secret else "")
                          for f in formats()) + " (default: %(default)s)")
    sadd.set_defaults(func=cmd_pbx_secret)
    ssub.add_parser("list", help="names, kinds and states (never the secrets)").set_defaults(
        func=cmd_pbx_secret)
    sretire = ssub.add_parser("retire", help="stop accepting a secret")
    sretire.add_argument("name")
    sretire.set_defaults(func=cmd_pbx_secret)
    directory = pbsub.add_parser("directory", help="extensions, desk-group phones, contacts")
    dirsub = directory.add_subparsers(dest="directory_command", required=True,
                                      metavar="ACTION")
    dimport = dirsub.add_parser("import", help="replace the directory with a CSV "
                                               "(number,kind,target,name)")
    dimport.add_argument("file", help="UTF-8 CSV (a BOM is fine)")
    dimport.set_defaults(func=cmd_pbx_directory)
    dirsub.add_parser("list", help="the directory as stored").set_defaults(
        func=cmd_pbx_directory)
    from chat.client.pbx import SCENARIOS
    simulate = pbsub.add_parser("simulate", help="post a signed call sequence to a running "
                                                 "server (demos, tests)")
    simulate.add_argument("scenario", choices=sorted(SCENARIOS),
                          help="; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()))
    simulate.add_argument("--url", help="the server (default http://127.0.0.1:CHAT_PORT)")
    key = simulate.add_mutually_exclusive_group(required=True)
    key.add_argument("--secret", help="the whsec_ secret to sign with")
    key.add_argument("--secret-name", help="sign with this stored secret (reads the "
                                           "database and the instance secrets)")
    simulate.add_argument("--from", dest="from_number", default="03-5555-0101")
    simulate.add_argument("--to", dest="to_number", default="03-1111-2222")
    simulate.add_argument("--extension", default="2101",
                          help="the extension or desk-group number that rings")
    simulate.add_argument("--caller-name", help="a name the PBX knows for the caller")
    simulate.add_argument("--hold", type=float, default=2.0, help="seconds on the call")
    simulate.add_argument("--pause", type=float, default=1.0,
                          help="seconds between events (0 for tests)")
    simulate.add_argument("--repeat", type=int, default=1)
    simulate.set_defaults(func=cmd_pbx_simulate)
