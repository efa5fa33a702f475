"""The ``tsunagu`` command. Each subcommand says what it did."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import segno

from chat.config import Settings, SettingsError
from chat.context import AppContext, open_context
from chat.domain.imports import CsvProblems, parse_departments, parse_staff
from chat.errors import BadRequest, ChatError
from chat.secrets import SECRETS_FILE, InstanceSecrets
from chat.store.migrations import upgrade
from chat.store.uow import unit_of_work

T = TypeVar("T")


def _progress(label: str) -> Callable[[int, int], None]:
    """Progress on stderr: a live line on a terminal, every 10% otherwise."""
    last = [-1]
    tty = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if tty:
            print(f"\r{label}: {done}/{total} ({pct}%)", end="", file=sys.stderr)
            if done == total:
                print(file=sys.stderr)
        elif pct // 10 != last[0] // 10 or done == total:
            print(f"{label}: {done}/{total} ({pct}%)", file=sys.stderr)
        last[0] = pct

    return report


@asynccontextmanager
async def _offline_context(settings: Settings) -> AsyncIterator[AppContext]:
    """An AppContext for commands run beside (not inside) a server. With a Redis bus the
    servers' clients see the changes live; with the in-process default nobody listens,
    and each node finds them in the database: revocations within a second (the hub's
    sweep), membership changes within its reconcile interval."""
    if not (settings.var_dir / SECRETS_FILE).exists():
        print(f"warning: no instance secrets in {settings.var_dir}; creating new ones. "
              "Servers sharing this database must use the same file (CHAT_VAR_DIR).",
              file=sys.stderr)
    async with open_context(settings) as ctx:
        yield ctx


def _run(settings: Settings, job: Callable[[AppContext], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _offline_context(settings) as ctx:
            return await job(ctx)
    return asyncio.run(main())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print(f"database migrated to the latest schema ({_redact(settings.database_url)})")
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from chat.demo import seed_demo

    async def job(ctx: AppContext) -> str:
        async with unit_of_work(ctx.db, write=False) as uow:
            if await uow.users.count() > 0:
                return "database already has users: demo not seeded"
        depts, staff = await seed_demo(ctx)
        return (f"demo city seeded: {depts.created} departments, {staff.created} staff, "
                f"{depts.channels_created} channels")

    print(_run(settings, job))
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.orgchart import import_departments, import_staff

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2

    async def job(ctx: AppContext) -> str:
        if args.what == "departments":
            rows = parse_departments(text)
            report = await import_departments(ctx, rows, progress=_progress("departments"))
        else:
            async with unit_of_work(ctx.db, write=False) as uow:
                codes = {d.code for d in await uow.departments.all()}
            staff_rows = parse_staff(text, known_departments=codes)
            report = await import_staff(ctx, staff_rows, progress=_progress("staff"))
        return f"{args.what} imported from {path}: {report.summary()}"

    try:
        print(_run(settings, job))
    except CsvProblems as exc:
        print(f"{path}: nothing imported; fix these {len(exc.problems)} problems:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


def _operator() -> str:
    """Who ran a command, for the audit log: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _fail(error: ChatError) -> int:
    print(f"error: {error.message} ({error.code})", file=sys.stderr)
    return 1


def cmd_device_enroll(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.devices import create_enrollment

    ttl = int(args.ttl_minutes * 60) if args.ttl_minutes else None
    ticket = _run(settings, lambda ctx: create_enrollment(
        ctx, staff_number=args.staff_number, label=args.label, created_by=_operator(),
        ttl_seconds=ttl))
    local = ticket.expires_at.astimezone()
    print(f"enrollment code for {ticket.user_name} ({ticket.staff_number}), "
          f"device {ticket.label!r}")
    print(f"valid once, until {local:%Y-%m-%d %H:%M %Z}")
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

    rows = _run(settings, lambda ctx: list_devices(ctx, staff_number=args.staff_number))
    if not rows:
        print("no devices enrolled")
        return 0
    print(f"{'id':>5}  {'staff':<8} {'name':<12} {'state':<8} {'last seen':<17} label")
    for row in rows:
        seen = (row["last_seen_at"] or "-")[:16].replace("T", " ")
        print(f"{row['id']:>5}  {row['staff_number']:<8} {row['user']:<12} "
              f"{row['state']:<8} {seen:<17} {row['label']}")
    print(f"{len(rows)} device(s)")
    return 0


def cmd_device_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.devices import revoke_device

    revoked = _run(settings, lambda ctx: revoke_device(
        ctx, device_id=args.device_id, reason=args.reason, by=_operator()))
    print(f"device {args.device_id} revoked; {len(revoked)} session(s) ended and their "
          "connections closed")
    return 0


def cmd_user_active(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.devices import set_user_active

    active = args.user_command == "enable"
    revoked = _run(settings, lambda ctx: set_user_active(
        ctx, staff_number=args.staff_number, active=active, by=_operator()))
    if active:
        print(f"{args.staff_number} enabled")
    else:
        print(f"{args.staff_number} disabled; {len(revoked)} session(s) ended and their "
              "connections closed")
    return 0


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
        by = _operator()
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

    print(_run(settings, job))
    return 0


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import audit as audit_actions
    from chat.domain.auditchain import load_public_pem, public_pem, signing_key

    if args.audit_command == "public-key":
        secrets = InstanceSecrets.load_or_create(settings.var_dir)
        print(public_pem(signing_key(secrets.audit_signing_key).public_key()), end="")
        return 0
    if args.audit_command == "checkpoint":
        checkpoint = _run(settings, audit_actions.make_checkpoint)
        if checkpoint is None:
            print("nothing new to sign: the chain head is already checkpointed (or empty)")
        else:
            print(f"signed checkpoint at entry {checkpoint.seq} "
                  f"(hash {checkpoint.hash[:16]}…, key {checkpoint.key_id})")
        return 0
    public_key = None
    if args.public_key:
        try:
            public_key = load_public_pem(Path(args.public_key).read_bytes())
        except (OSError, ValueError) as error:
            print(f"error: {args.public_key}: {error}", file=sys.stderr)
            return 2
    report = _run(settings, lambda ctx: audit_actions.verify_log(
        ctx, public_key=public_key, progress=_progress("verifying")))
    summary = (f"{report.entries} audit entries, {report.checkpoints} signed checkpoints, "
               f"{report.revisions} message revisions checked")
    if report.ok:
        print(f"audit log intact: {summary}")
        return 0
    print(f"AUDIT LOG TAMPERED: {summary}", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from chat.app import create_app

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if args.dev_sessions:
        overrides["dev_sessions"] = True
    settings = settings.with_overrides(**overrides)
    if settings.dev_sessions and not settings.dev_sessions_allowed:
        print("refusing to start: dev sessions need a loopback bind", file=sys.stderr)
        return 2
    for line in _banner(settings):
        print(line)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                ws="websockets-sansio", ws_max_size=settings.transport_max_bytes,
                ws_per_message_deflate=False, log_level="info",
                proxy_headers=settings.forwarded_allow_ips is not None,
                forwarded_allow_ips=settings.forwarded_allow_ips)
    return 0


def _banner(settings: Settings) -> Iterator[str]:
    host = "localhost" if settings.host in {"127.0.0.1", "::1"} else settings.host
    yield f"Tsunagu is serving on http://{host}:{settings.port}"
    yield (f"Staff sign in with a passkey on an enrolled device: open the link printed by "
           f"`tsunagu device enroll STAFF_NUMBER` (pages use {settings.public_origin})")
    if settings.dev_sessions_allowed:
        yield ("DEMO MODE (loopback only): open the page and pick a demo person to sign in "
               "as; real device enrollment is not required here.")
    if not settings.off_hours_policy:
        yield "off-hours policy is OFF (CHAT_OFF_HOURS_POLICY=off): anyone may connect any time"


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsunagu", description="Tsunagu (つなぐ): secure business chat for city halls")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="bind address (default CHAT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default CHAT_PORT or 8000)")
    serve.add_argument("--dev-sessions", action="store_true",
                       help="enable the demo sign-in (refused unless bound to loopback)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        func=cmd_migrate)
    sub.add_parser("seed-demo", help="seed a demo city into an empty database").set_defaults(
        func=cmd_seed_demo)
    imp = sub.add_parser("import", help="import departments or staff from CSV (idempotent)")
    imp.add_argument("what", choices=["departments", "staff"])
    imp.add_argument("file", help="UTF-8 CSV (a BOM is fine)")
    imp.set_defaults(func=cmd_import)

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

    audit = sub.add_parser("audit", help="verify and sign the tamper-evident audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = asub.add_parser("verify", help="walk the hash chain, checkpoints and message "
                                            "revisions; exit 1 naming what was tampered")
    verify.add_argument("--public-key", metavar="PEM",
                        help="check checkpoints with this exported key instead of the "
                             "instance's own")
    verify.set_defaults(func=cmd_audit)
    asub.add_parser("checkpoint", help="sign the chain head now (Ed25519)").set_defaults(
        func=cmd_audit)
    asub.add_parser("public-key", help="print the checkpoint public key (PEM) for third "
                                       "parties").set_defaults(func=cmd_audit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        result: int = args.func(settings, args)
    except ChatError as error:
        # Refusals every command may meet (unknown staff number, a bad value): one line.
        return _fail(error)
    return result


if __name__ == "__main__":
    sys.exit(main())
