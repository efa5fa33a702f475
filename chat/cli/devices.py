"""`tsunagu device enroll|list|revoke` and `tsunagu user disable|enable`."""


from __future__ import annotations

import argparse
import io
from datetime import datetime

import segno

from chat.cli.common import (
    Subcommands,
    operator,
    run_offline,
)
from chat.config import Settings
from chat.domain.dates import japan_time


def cmd_device_enroll(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.devices import create_enrollment

    ttl = int(args.ttl_minutes * 60) if args.ttl_minutes else None
    ticket = run_offline(settings, lambda ctx: create_enrollment(
        ctx, staff_number=args.staff_number, label=args.label, created_by=operator(),
        ttl_seconds=ttl))
    print(f"enrollment code for {ticket.user_name} ({ticket.staff_number}), "
          f"device {ticket.label!r}")
    # Japan time like every screen, whatever zone the server runs in (often UTC).
    print(f"valid once, until {japan_time(ticket.expires_at)} JST")
    print(f"open on the phone: {ticket.link}")
    qr = segno.make(ticket.link, error="m")
    if args.qr:
        qr.save(args.qr, scale=8, border=4)
        print(f"QR code written to {args.qr}")
    if not args.no_qr:
        buffer = io.StringIO()
        qr.terminal(out=buffer, compact=True)
        print(buffer.getvalue(), end="")
    return 0


def cmd_device_list(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.devices import list_devices

    rows = run_offline(settings, lambda ctx: list_devices(ctx, staff_number=args.staff_number))
    if not rows:
        print("no devices enrolled")
        return 0
    print(f"{'id':>5}  {'staff':<8} {'name':<12} {'state':<8} {'last seen JST':<17} label")
    for row in rows:
        seen = (japan_time(datetime.fromisoformat(row["last_seen_at"].replace("Z", "+00:00")))
                if row["last_seen_at"] else "-")
        print(f"{row['id']:>5}  {row['staff_number']:<8} {row['user']:<12} "
              f"{row['state']:<8} {seen:<17} {row['label']}")
    print(f"{len(rows)} device(s)")
    return 0


def cmd_device_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.devices import revoke_device

    revoked = run_offline(settings, lambda ctx: revoke_device(
        ctx, device_id=args.device_id, reason=args.reason, by=operator()))
    print(f"device {args.device_id} revoked; {len(revoked)} session(s) ended and their "
          "connections closed")
    return 0


def cmd_user_active(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.devices import set_user_active

    active = args.user_command == "enable"
    revoked = run_offline(settings, lambda ctx: set_user_active(
        ctx, staff_number=args.staff_number, active=active, by=operator()))
    if active:
        print(f"{args.staff_number} enabled")
    else:
        print(f"{args.staff_number} disabled; {len(revoked)} session(s) ended and their "
              "connections closed")
    return 0


def register(sub: Subcommands) -> None:
    device = sub.add_parser("device", help="enroll, list and revoke staff devices")
    dsub = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    enroll = dsub.add_parser("enroll", help="make a one-time enrollment link and QR code")
    enroll.add_argument("staff_number", help="the staff number of the device's owner")
    enroll.add_argument("--label", help="what the device is (e.g. 'iPhone 防災係 3')")
    enroll.add_argument("--ttl-minutes", type=float,
                        help="how long the code stays valid (default 15)")
    enroll.add_argument("--qr", metavar="FILE.png", help="also write the QR code as a PNG")
    enroll.add_argument("--no-qr", action="store_true",
                        help="do not print the QR code on the terminal")
    enroll.set_defaults(func=cmd_device_enroll)
    dlist = dsub.add_parser("list", help="list devices, their state and last use")
    dlist.add_argument("staff_number", nargs="?", help="only this person's devices")
    dlist.set_defaults(func=cmd_device_list)
    revoke = dsub.add_parser("revoke", help="revoke a device: its sessions end at once")
    revoke.add_argument("device_id", type=int)
    revoke.add_argument("--reason", default="revoked by an administrator",
                        help="why (kept in the audit log)")
    revoke.set_defaults(func=cmd_device_revoke)

    user = sub.add_parser("user", help="disable or re-enable an account")
    usub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    for name, text in (("disable", "disable: every session ends at once"),
                       ("enable", "enable again")):
        action = usub.add_parser(name, help=text)
        action.add_argument("staff_number")
        action.set_defaults(func=cmd_user_active)
