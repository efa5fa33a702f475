"""`tsunagu broadcast group set|list`: the building/floor groups an urgent broadcast
(緊急放送) can go to."""

from __future__ import annotations

import argparse

from chat.cli.common import Subcommands, operator, run_offline
from chat.config import Settings
from chat.context import AppContext


def _listed(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def cmd_group_set(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.broadcast import set_broadcast_group

    async def job(ctx: AppContext) -> str:
        result = await set_broadcast_group(
            ctx, args.name, staff_numbers=_listed(args.staff),
            department_codes=_listed(args.departments), by=operator())
        return (f"broadcast group {result.name}: {result.members} people "
                f"({result.joined} joined, {result.left} left)")

    print(run_offline(settings, job))
    return 0


def cmd_group_list(settings: Settings, args: argparse.Namespace) -> int:
    async def job(ctx: AppContext) -> str:
        from chat.store.uow import TxMode, unit_of_work

        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            lines = [f"{g.name}\t{len(await uow.channels.member_ids(g.channel_id))} people"
                     for g in await uow.broadcasts.groups()]
        return "\n".join(lines) or "(no groups: broadcasts go to everyone)"

    print(run_offline(settings, job))
    return 0


def register(sub: Subcommands) -> None:
    broadcast = sub.add_parser("broadcast", help="urgent broadcast groups (緊急放送)")
    bsub = broadcast.add_subparsers(dest="broadcast_command", required=True, metavar="ACTION")
    group = bsub.add_parser("group", help="building/floor groups")
    gsub = group.add_subparsers(dest="group_command", required=True, metavar="ACTION")
    put = gsub.add_parser("set", help="make or change a group (its members are replaced)")
    put.add_argument("name", help="e.g. 本庁舎3階")
    put.add_argument("--staff", help="comma-separated staff numbers")
    put.add_argument("--departments", help="comma-separated department codes")
    put.set_defaults(func=cmd_group_set)
    gsub.add_parser("list", help="the groups and their sizes").set_defaults(
        func=cmd_group_list)
