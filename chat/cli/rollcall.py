"""`tsunagu rollcall start|status|remind|export|end`: safety roll calls (安否確認) from
the server's console; ``status`` prints the same tally as the HQ page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chat.cli.common import Subcommands, operator, run_offline
from chat.config import Settings
from chat.context import AppContext


def cmd_rollcall(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import rollcall as actions
    from chat.domain.rollcall import tally_lines

    exported: list[tuple[str, bytes]] = []

    async def job(ctx: AppContext) -> str:
        by = operator()
        command = args.rollcall_command
        if command == "start":
            info = await actions.start_rollcall(ctx, text=args.message,
                                                deadline_minutes=args.deadline, by=by)
            deadline = f", answers by {info['deadline']}" if info["deadline"] else ""
            return f"roll call {info['id']} started: {info['title']} {info['text']}{deadline}"
        if command == "remind":
            count = await actions.remind_unanswered(ctx, rollcall_id=args.id, by=by)
            return f"reminded {count} people who have not answered roll call {args.id}"
        if command == "end":
            info = await actions.end_rollcall(ctx, rollcall_id=args.id, by=by)
            return f"roll call {info['id']} ended"
        if command == "export":
            exported.append(await actions.export_rollcall_csv(ctx, rollcall_id=args.id,
                                                              by=by))
            return ""
        return "\n".join(tally_lines(await actions.rollcall_tally(
            ctx, actor=None, rollcall_id=args.id)))

    said = run_offline(settings, job)
    for name, data in exported:
        path = Path(args.output or name)
        path.write_bytes(data)
        said = f"wrote {path}"
    print(said)
    sys.stdout.flush()
    return 0


def register(sub: Subcommands) -> None:
    rollcall = sub.add_parser("rollcall", help="safety roll calls (安否確認)")
    commands = rollcall.add_subparsers(dest="rollcall_command", required=True)
    start = commands.add_parser("start", help="ask everyone whether they are safe")
    start.add_argument("message")
    start.add_argument("--deadline", type=int, metavar="MINUTES",
                       help="answers are asked for within this many minutes")
    status = commands.add_parser("status", help="the tally by department, who has not "
                                 "answered (the latest roll call without ID)")
    status.add_argument("id", type=int, nargs="?")
    remind = commands.add_parser("remind", help="push a reminder to those who have not "
                                 "answered")
    remind.add_argument("id", type=int)
    export = commands.add_parser("export", help="the result as CSV for Excel")
    export.add_argument("id", type=int)
    export.add_argument("-o", "--output", help="file to write (default rollcall-ID.csv)")
    end = commands.add_parser("end", help="close a roll call to answers")
    end.add_argument("id", type=int)
    for parser in (start, status, remind, export, end):
        parser.set_defaults(func=cmd_rollcall)
