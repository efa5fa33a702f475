"""`tsunagu retention show|set|clear|run` and `tsunagu hold place|list|release`."""


from __future__ import annotations

import argparse
from datetime import datetime

from chat.cli.common import (
    Subcommands,
    operator,
    progress,
    run_offline,
)
from chat.config import Settings
from chat.context import AppContext
from chat.domain.dates import japan_time
from chat.errors import BadRequest


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import retention as retention_actions
    from chat.domain.retention import parse_keep_years

    by = operator()
    if args.retention_command in {"set", "clear"}:
        scope = {"channel_kind": args.kind, "channel_id": args.channel}
        if args.retention_command == "set":
            try:
                years = parse_keep_years(args.period)
            except ValueError as error:
                raise BadRequest(str(error)) from None
            run_offline(settings, lambda ctx: retention_actions.set_policy(
                ctx, keep_years=years, by=by, **scope))
            what = f"channel {args.channel}" if args.channel else f"{args.kind} channels"
            print(f"retention for {what}: "
                  + ("forever (永年保存)" if years is None else f"{years} year(s)"))
        else:
            cleared = run_offline(settings, lambda ctx: retention_actions.clear_policy(
                ctx, by=by, **scope))
            print("policy removed" if cleared else "no such policy: nothing changed")
        return 0
    if args.retention_command == "run":
        report = run_offline(settings, lambda ctx: retention_actions.run_retention(
            ctx, by=by, dry_run=args.dry_run, progress=progress("purging")))
        print(report.summary())
        if report.hold_ids:
            print(f"legal holds that kept messages: {', '.join(map(str, sorted(report.hold_ids)))}")
        return 0

    async def show(ctx: AppContext) -> list[str]:
        policies = await retention_actions.list_policies(ctx)
        plans = await retention_actions.plan_retention(ctx, ctx.clock.now())
        holds = await retention_actions.list_holds(ctx)
        lines = ["retention policies (with none, messages are kept forever):"]
        for p in policies:
            target = (f"channel {p['channel_id']}" if p["channel_id"] is not None
                      else f"{p['channel_kind']} channels")
            period = "forever" if p["keep_years"] is None else f"{p['keep_years']} year(s)"
            lines.append(f"  {target:<26} {period:<12} set by {p['updated_by']}")
        if not policies:
            lines.append("  (none)")
        expired = sum(plan.expired for plan in plans)
        lines.append(f"expired now: {expired} message(s) in {len(plans)} channel(s), "
                     "before legal holds")
        lines.append(f"active legal holds: {len(holds)}")
        return lines

    print("\n".join(run_offline(settings, show)))
    return 0


def cmd_hold(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import retention as retention_actions
    from chat.domain.dates import parse_moment

    by = operator()
    if args.hold_command == "place":
        try:
            starts = parse_moment(args.since, name="--since") if args.since else None
            ends = (parse_moment(args.until, name="--until", end_of_day=True)
                    if args.until else None)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        hold = run_offline(settings, lambda ctx: retention_actions.place_hold(
            ctx, reason=args.reason, by=by, staff_number=args.user, channel_id=args.channel,
            starts_at=starts, ends_at=ends, confidential=args.confidential))
        print(f"legal hold {hold['id']} placed: {_hold_scope(hold)}; no purge touches it "
              "until it is released")
        return 0
    if args.hold_command == "release":
        run_offline(settings, lambda ctx: retention_actions.release_hold(ctx, args.hold_id, by=by))
        print(f"legal hold {args.hold_id} released")
        return 0
    holds = run_offline(settings, lambda ctx: retention_actions.list_holds(
        ctx, include_released=args.all))
    if not holds:
        print("no legal holds" if args.all else "no active legal holds")
        return 0
    for hold in holds:
        state = (f"released {_jst(hold['released_at'])[:10]}" if hold["released_at"]
                 else "ACTIVE")
        print(f"{hold['id']:>4}  {state:<19} {_hold_scope(hold)}  — {hold['reason']} "
              f"(placed by {hold['placed_by']})")
    return 0


def _hold_scope(hold: dict[str, object]) -> str:
    parts = []
    if hold["staff_number"] or hold["user_id"]:
        parts.append(f"person {hold['staff_number'] or hold['user_id']}")
    if hold["channel_id"]:
        parts.append(f"channel {hold['channel_id']}")
    if hold["starts_at"] or hold["ends_at"]:
        parts.append(f"from {_jst(hold['starts_at'])} until {_jst(hold['ends_at'])} JST")
    return ", ".join(parts)


def _jst(wire: object) -> str:
    """A wire time (RFC 3339 UTC) as Japan time, as every screen shows it; "…" for none."""
    return japan_time(datetime.fromisoformat(wire)) if isinstance(wire, str) and wire else "…"


def register(sub: Subcommands) -> None:
    retention = sub.add_parser("retention", help="retention periods and the purge job")
    rsub = retention.add_subparsers(dest="retention_command", required=True,
                                    metavar="ACTION")
    rsub.add_parser("show", help="policies, what has expired, active holds").set_defaults(
        func=cmd_retention)
    for name, text in (("set", "set a retention period"), ("clear", "remove a policy")):
        action = rsub.add_parser(name, help=text)
        target = action.add_mutually_exclusive_group(required=True)
        target.add_argument("--kind", help="channel kind: department, group, direct, "
                                           "announcement")
        target.add_argument("--channel", type=int, help="one channel's id (wins over its kind)")
        if name == "set":
            action.add_argument("period", help="years (1, 3, 5, 10, 30 …) or 'forever'")
        action.set_defaults(func=cmd_retention)
    run = rsub.add_parser("run", help="purge expired message text now (servers also run it "
                                      "every CHAT_RETENTION_INTERVAL_HOURS)")
    run.add_argument("--dry-run", action="store_true", help="count, purge nothing")
    run.set_defaults(func=cmd_retention)

    hold = sub.add_parser("hold", help="legal holds: keep what they cover from any purge")
    hsub = hold.add_subparsers(dest="hold_command", required=True, metavar="ACTION")
    place = hsub.add_parser("place", help="place a hold on a person, a channel or dates")
    place.add_argument("--reason", required=True, help="why (kept in the audit log)")
    place.add_argument("--user", metavar="STAFF", help="a person: what they sent and their "
                                                        "direct and group chats")
    place.add_argument("--channel", type=int, help="a channel id")
    place.add_argument("--since", metavar="DATE", help="from this day (YYYY-MM-DD, Japan time)")
    place.add_argument("--until", metavar="DATE", help="up to and including this day")
    place.add_argument("--confidential", action="store_true",
                       help="hide auditors' reads of what it covers from the staff's own "
                            "access record until it is released (docs/audit.md)")
    place.set_defaults(func=cmd_hold)
    hlist = hsub.add_parser("list", help="active holds")
    hlist.add_argument("--all", action="store_true", help="released ones too")
    hlist.set_defaults(func=cmd_hold)
    release = hsub.add_parser("release", help="release a hold")
    release.add_argument("hold_id", type=int)
    release.set_defaults(func=cmd_hold)
