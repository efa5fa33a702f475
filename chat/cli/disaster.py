"""`tsunagu disaster declare|end|status|hq-members`: declare and end a disaster or a
drill (訓練) from the server's console, as the phone and the console do (docs/disaster.md).

The command sends the declaration's Web Push itself (it holds the instance's VAPID key,
as the servers do) and waits for it before it exits. Clients see the banner within a
second: on Redis through Redis, on the in-process bus through the bus outbox.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Awaitable, Callable

from chat.cli.common import Subcommands, operator, run_offline
from chat.config import Settings
from chat.context import AppContext
from chat.domain.dates import japan_time
from chat.domain.disaster import DisasterState


def _describe(state: DisasterState) -> str:
    kind = "drill (訓練)" if state.drill else "DISASTER"
    line = (f"{kind} #{state.id} 「{state.title}」 declared {japan_time(state.declared_at)} "
            f"JST by {state.declared_by}")
    if state.ended_at is not None:
        line += f", ended {japan_time(state.ended_at)} JST"
    return line


async def _with_push(ctx: AppContext, job: Callable[[AppContext], Awaitable[str]]) -> str:
    """Run ``job`` with Web Push delivery, and wait until its pushes are sent."""
    from chat.webpush import WebPush

    push = WebPush(ctx.settings, ctx.secrets)
    try:
        result = await job(dataclasses.replace(ctx, push=push))
        await push.idle()
    finally:
        await push.close()
    return result


def cmd_declare(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.disaster import declare_disaster

    async def declare(ctx: AppContext) -> str:
        state = await declare_disaster(ctx, name=args.name, drill=args.drill, by=operator())
        return (f"declared: {_describe(state)}\n"
                "the HQ channel 災害対策本部 is open with its members, the off-hours limit is "
                "lifted, every phone shows the banner and was sent a push")

    print(run_offline(settings, lambda ctx: _with_push(ctx, declare)))
    return 0


def cmd_end(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.disaster import end_disaster

    async def end(ctx: AppContext) -> str:
        state = await end_disaster(ctx, by=operator())
        return (f"ended: {_describe(state)}\n"
                "the off-hours limit applies again; the HQ channel and its records stay")

    print(run_offline(settings, lambda ctx: _with_push(ctx, end)))
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.disaster import configured_hq_members, current_disaster, recent_disasters

    async def job(ctx: AppContext) -> str:
        current = await current_disaster(ctx)
        lines = [f"active: {_describe(current)}" if current else "active: none",
                 "HQ members (staff numbers): "
                 + (" ".join(await configured_hq_members(ctx)) or "(none configured)")]
        history = await recent_disasters(ctx, limit=10)
        lines += ["recent:"] + [f"  {_describe(s)}" for s in history] if history else []
        return "\n".join(lines)

    print(run_offline(settings, job))
    return 0


def cmd_hq_members(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.disaster import set_hq_members

    async def job(ctx: AppContext) -> str:
        members = await set_hq_members(ctx, args.staff_numbers, by=operator())
        return (f"HQ members set ({len(members)}): {' '.join(members) or '(none)'}; "
                "they join 災害対策本部 when a disaster or drill is declared "
                "(at once if one is active), with everyone of the crisis role")

    print(run_offline(settings, job))
    return 0


def register(sub: Subcommands) -> None:
    disaster = sub.add_parser("disaster", help="declare or end a disaster or a drill (災害・訓練)")
    dsub = disaster.add_subparsers(dest="disaster_command", required=True, metavar="ACTION")
    declare = dsub.add_parser("declare", help="declare a disaster, or with --drill a drill")
    declare.add_argument("name", help="e.g. 令和8年台風第10号, or 総合防災訓練")
    declare.add_argument("--drill", action="store_true", help="a drill (訓練): says so everywhere")
    declare.set_defaults(func=cmd_declare)
    dsub.add_parser("end", help="end the active disaster or drill").set_defaults(func=cmd_end)
    dsub.add_parser("status", help="what is declared, the HQ members, the history"
                    ).set_defaults(func=cmd_status)
    members = dsub.add_parser("hq-members",
                              help="who joins the HQ channel (災害対策本部) on a declaration")
    members.add_argument("staff_numbers", nargs="*", metavar="STAFF_NO",
                         help="staff numbers (none: clear the list)")
    members.set_defaults(func=cmd_hq_members)
