"""`tsunagu policy show|hours|roles|disaster`: who may connect when."""


from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chat.cli.common import (
    Subcommands,
    operator,
    run_offline,
)
from chat.config import Settings
from chat.context import AppContext
from chat.errors import BadRequest


def cmd_policy(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import policy as policy_actions

    hours_config = None
    if args.policy_command == "hours":
        try:
            hours_config = json.loads(Path(args.file).read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as error:
            print(f"error: {args.file}: {error}", file=sys.stderr)
            return 1

    async def job(ctx: AppContext) -> str:
        by = operator()
        if args.policy_command == "disaster":
            await policy_actions.set_disaster_mode(ctx, args.state == "on", by=by)
            return ("disaster mode ON: everyone may connect at any hour"
                    if args.state == "on" else "disaster mode OFF: the off-hours policy applies")
        if args.policy_command == "hours":
            if not isinstance(hours_config, dict):
                raise BadRequest("the working-hours file must hold a JSON object")
            hours = await policy_actions.set_working_hours(ctx, hours_config, by=by)
            return (f"working hours set ({hours.timezone}, {len(hours.holidays)} holidays, "
                    f"year-end closure {'on' if hours.year_end_closure else 'off'})")
        if args.policy_command == "roles":
            roles = await policy_actions.set_off_hours_roles(
                ctx, [r.strip() for r in args.roles.split(",") if r.strip()], by=by)
            return f"off-hours roles: {', '.join(roles) or '(none)'}"
        policy, values = await policy_actions.current_policy(ctx)
        decision_time = ctx.clock.now()
        lines = [
            f"enforced: {'yes' if settings.off_hours_policy else 'NO'} (CHAT_OFF_HOURS_POLICY "
            "as this command sees it; each server reads its own environment)",
            f"disaster mode: {'ON' if policy.disaster_mode else 'off'}",
            f"off-hours roles: {', '.join(sorted(policy.off_hours_roles)) or '(none)'}",
            "working hours: " + ("configured" if "working_hours" in values else "default "
                                 "(weekdays 8:30-17:15, 29 Dec-3 Jan closed)"),
            f"open now: {'yes' if policy.hours.is_open(decision_time) else 'no'}",
        ]
        return "\n".join(lines)

    print(run_offline(settings, job))
    return 0


def register(sub: Subcommands) -> None:
    policy = sub.add_parser("policy", help="working hours, off-hours roles, disaster mode")
    psub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    psub.add_parser("show", help="what is in force").set_defaults(func=cmd_policy)
    hours = psub.add_parser("hours", help="set working hours and holidays from a JSON file")
    hours.add_argument("file", help='e.g. {"weekdays": {"mon": [["08:30", "17:15"]]}, '
                                    '"holidays": ["2026-11-23"]}')
    hours.set_defaults(func=cmd_policy)
    roles = psub.add_parser("roles", help="roles that may connect off-hours")
    roles.add_argument("roles", help="comma-separated, e.g. manager,operator")
    roles.set_defaults(func=cmd_policy)
    disaster = psub.add_parser("disaster", help="declare or lift disaster mode (災害モード)")
    disaster.add_argument("state", choices=["on", "off"])
    disaster.set_defaults(func=cmd_policy)
