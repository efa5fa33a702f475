"""The ``tsunagu`` command. Each subcommand says what it did."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import json
import sys
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import segno

from chat.config import Settings, SettingsError
from chat.context import AppContext, open_context
from chat.domain.imports import CsvProblems, parse_departments, parse_staff
from chat.domain.records import RecordFilters
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
    text = _read_csv(path)
    if text is None:
        return 2

    async def job(ctx: AppContext) -> str:
        if args.what == "departments":
            rows = parse_departments(text)
            report = await import_departments(ctx, rows, progress=_progress("departments"),
                                              by=_operator())
        else:
            async with unit_of_work(ctx.db, write=False) as uow:
                codes = {d.code for d in await uow.departments.all()}
            staff_rows = parse_staff(text, known_departments=codes)
            report = await import_staff(ctx, staff_rows, progress=_progress("staff"),
                                        by=_operator())
        return f"{args.what} imported from {path}: {report.summary()}"

    return _import_report(settings, path, job)


def _read_csv(path: Path) -> str | None:
    """A CSV as Excel saves it (UTF-8, a BOM is fine); None, said on stderr, if unreadable."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return None


def _import_report(settings: Settings, path: Path,
                   job: Callable[[AppContext], Awaitable[str]]) -> int:
    """Run an import; a file with problems imports nothing, and every problem is listed."""
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


def _record_filters(args: argparse.Namespace) -> RecordFilters:
    from chat.domain.records import parse_filters

    try:
        return parse_filters(user=args.user, channel_id=args.channel, since=args.since,
                             until=args.until, words=args.q)
    except ValueError as error:
        raise BadRequest(str(error)) from None


def _cell(text: str, width: int) -> str:
    """``text`` cut and padded to ``width`` terminal columns (full-width characters take
    two)."""
    out, used = "", 0
    for char in text:
        size = 2 if unicodedata.east_asian_width(char) in {"W", "F"} else 1
        if used + size > width:
            break
        out, used = out + char, used + size
    return out + " " * (width - used)


def cmd_audit_search(settings: Settings, args: argparse.Namespace) -> int:
    """Auditor search from the command line (audited as records.searched, by operator)."""
    from chat.actions.records import search_messages
    from chat.domain.export import jst

    filters = _record_filters(args)
    result = _run(settings, lambda ctx: search_messages(
        ctx, actor=_operator(), filters=filters, cursor=args.cursor, limit=args.limit))
    print(f"{'id':>7}  {'time (JST)':<16}  {_cell('channel', 12)} {_cell('sender', 16)} "
          f"{'state':<7} {'rev':>3}  text")
    for m in result["messages"]:
        sender = m["sender"]
        texts = [r["body"] for r in m["revisions"] if r["body"]]
        text = "(purged)" if m["state"] == "purged" else (texts[-1] if texts else "")
        when = jst(datetime.fromisoformat(m["created_at"]))[:16].replace("T", " ")
        who = f"{sender['staff_number']} {sender['name']}" if sender else "-"
        print(f"{m['id']:>7}  {when:<16}  {_cell(m['channel']['name'], 12)} "
              f"{_cell(who, 16)} {m['state']:<7} {len(m['revisions']):>3}  "
              f"{' '.join(text.split())[:40]}")
    print(f"{len(result['messages'])} message(s)")
    if result["next_cursor"]:
        print(f"more: add --cursor {result['next_cursor']}")
    return 0


def cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    """Export inline into --out (audited as records.export_started / records.exported)."""
    from chat.actions.records import keep_alive, run_export, start_export
    from chat.domain.export import FORMAT_FILES, MANIFEST_FILE, parse_formats

    out = Path(args.out)
    clashes = [n for n in (*FORMAT_FILES.values(), MANIFEST_FILE) if (out / n).exists()]
    if clashes:
        print(f"error: {out} already holds {', '.join(clashes)}; choose an empty directory",
              file=sys.stderr)
        return 2
    filters = _record_filters(args)
    try:
        formats = parse_formats(args.format)
    except ValueError as error:
        raise BadRequest(str(error)) from None

    async def job(ctx: AppContext) -> dict[str, Any]:
        started = await start_export(ctx, actor=_operator(), filters=filters, formats=formats)
        async with keep_alive(ctx, started["id"]):
            return await run_export(ctx, job_id=started["id"], directory=out,
                                    progress=_progress("exporting"))

    manifest = _run(settings, job)
    counts = manifest["counts"]
    print(f"export {manifest['export_id']}: {counts['messages']} messages "
          f"({counts['purged']} purged), {counts['revisions']} revisions")
    for f in manifest["files"]:
        print(f"  {out / f['name']}: {f['rows']} rows, {f['bytes']} bytes, "
              f"sha256 {f['sha256']}")
    print(f"manifest: {out / MANIFEST_FILE}")
    return 0


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import retention as retention_actions
    from chat.domain.retention import parse_keep_years

    by = _operator()
    if args.retention_command in {"set", "clear"}:
        scope = {"channel_kind": args.kind, "channel_id": args.channel}
        if args.retention_command == "set":
            try:
                years = parse_keep_years(args.period)
            except ValueError as error:
                raise BadRequest(str(error)) from None
            _run(settings, lambda ctx: retention_actions.set_policy(
                ctx, keep_years=years, by=by, **scope))
            what = f"channel {args.channel}" if args.channel else f"{args.kind} channels"
            print(f"retention for {what}: "
                  + ("forever (永年保存)" if years is None else f"{years} year(s)"))
        else:
            cleared = _run(settings, lambda ctx: retention_actions.clear_policy(
                ctx, by=by, **scope))
            print("policy removed" if cleared else "no such policy: nothing changed")
        return 0
    if args.retention_command == "run":
        report = _run(settings, lambda ctx: retention_actions.run_retention(
            ctx, by=by, dry_run=args.dry_run, progress=_progress("purging")))
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

    print("\n".join(_run(settings, show)))
    return 0


def cmd_hold(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import retention as retention_actions
    from chat.domain.dates import parse_moment

    by = _operator()
    if args.hold_command == "place":
        try:
            starts = parse_moment(args.since, name="--since") if args.since else None
            ends = (parse_moment(args.until, name="--until", end_of_day=True)
                    if args.until else None)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        hold = _run(settings, lambda ctx: retention_actions.place_hold(
            ctx, reason=args.reason, by=by, staff_number=args.user, channel_id=args.channel,
            starts_at=starts, ends_at=ends))
        print(f"legal hold {hold['id']} placed: {_hold_scope(hold)}; no purge touches it "
              "until it is released")
        return 0
    if args.hold_command == "release":
        _run(settings, lambda ctx: retention_actions.release_hold(ctx, args.hold_id, by=by))
        print(f"legal hold {args.hold_id} released")
        return 0
    holds = _run(settings, lambda ctx: retention_actions.list_holds(
        ctx, include_released=args.all))
    if not holds:
        print("no legal holds" if args.all else "no active legal holds")
        return 0
    for hold in holds:
        state = f"released {hold['released_at'][:10]}" if hold["released_at"] else "ACTIVE"
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
        parts.append(f"from {hold['starts_at'] or '…'} until {hold['ends_at'] or '…'}")
    return ", ".join(parts)


def cmd_pbx_secret(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import pbx_secrets as secret_actions
    from chat.domain.pbx_formats.registry import format_named

    if args.secret_command == "add":
        pbx_format, token = format_named(args.kind), None
        if pbx_format.operator_supplies_secret:
            token = (getpass.getpass(f"{pbx_format.secret_label}: ") if sys.stdin.isatty()
                     else sys.stdin.readline()).strip()
        value = _run(settings, lambda ctx: secret_actions.create_secret(
            ctx, name=args.name, by=_operator(), kind=pbx_format.name, value=token))
        if pbx_format.operator_supplies_secret:
            print(f"{pbx_format.secret_label} {args.name!r} stored; deliveries signed with "
                  f"it are accepted at {pbx_format.route}")
            return 0
        print(f"{pbx_format.secret_label} {args.name!r} created. Configure the PBX with it "
              "now; it is not shown again:")
        print(value)
        return 0
    if args.secret_command == "retire":
        _run(settings, lambda ctx: secret_actions.retire_secret(ctx, name=args.name,
                                                                by=_operator()))
        print(f"PBX secret {args.name!r} retired: webhooks signed with it are refused")
        return 0
    rows = _run(settings, secret_actions.list_secrets)
    if not rows:
        print("no PBX secrets; create one with `tsunagu pbx secret add NAME`")
        return 0
    print(f"{'name':<20} {'kind':<9} {'created':<17} {'by':<20} state")
    for row in rows:
        created = row["created_at"].astimezone().strftime("%Y-%m-%d %H:%M")
        state = ("retired " + row["retired_at"].astimezone().strftime("%Y-%m-%d %H:%M")
                 if row["retired_at"] else "active")
        print(f"{row['name']:<20} {row['kind']:<9} {created:<17} {row['created_by']:<20} "
              f"{state}")
    print(f"{len(rows)} secret(s), {sum(1 for r in rows if not r['retired_at'])} active")
    return 0


def cmd_pbx_directory(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import pbx_directory as directory_actions
    from chat.domain.directory import parse_directory

    if args.directory_command == "list":
        rows = _run(settings, directory_actions.directory_listing)
        for row in rows:
            target = row["user_id"] or (f"#{row['channel_id']}" if row["channel_id"] else "")
            print(f"{row['number']:<16} {row['kind']:<8} {target!s:<8} {row['name']}")
        print(f"{len(rows)} number(s) in the PBX directory")
        return 0
    path = Path(args.file)
    text = _read_csv(path)
    if text is None:
        return 2

    async def job(ctx: AppContext) -> str:
        async with unit_of_work(ctx.db, write=False) as uow:
            staff = {u.staff_number for u in await uow.users.all()}
            departments = {d.code for d in await uow.departments.all()}
        rows = parse_directory(text, known_staff=staff, known_departments=departments,
                               country_code=settings.pbx_country_code)
        report = await directory_actions.import_directory(ctx, rows, by=_operator())
        return f"PBX directory imported from {path}: {report.summary()}"

    return _import_report(settings, path, job)


def cmd_pbx_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.pbx_secrets import unseal
    from chat.client.pbx import CallSpec, PbxSimulator, scenario
    from chat.domain.pbx_formats.standard import STANDARD

    secret = args.secret
    if secret is None:
        async def load(ctx: AppContext) -> str:
            async with unit_of_work(ctx.db, write=False) as uow:
                row = await uow.pbx.secret(args.secret_name)
            if row is None or row.retired_at is not None or row.kind != STANDARD.name:
                raise BadRequest(f"no active PBX secret named {args.secret_name!r}")
            return unseal(ctx, row.sealed)
        secret = _run(settings, load)
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


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from chat.app import create_app
    from chat.runtime import settle_garbage_collector
    from chat.web.transport import WebSocketProtocol

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
    app = create_app(settings)
    settle_garbage_collector()
    uvicorn.run(app, host=settings.host, port=settings.port,
                ws=WebSocketProtocol, ws_max_size=settings.transport_max_bytes,
                ws_per_message_deflate=settings.ws_per_message_deflate, log_level="info",
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
    search = asub.add_parser("search", help="search every message and revision (auditor; "
                                            "the search is itself audited)")
    export = asub.add_parser("export", help="export messages with all revisions to JSON "
                                            "Lines and CSV, with a SHA-256 manifest")
    for records_parser in (search, export):
        records_parser.add_argument("--user", metavar="STAFF", help="sender's staff number")
        records_parser.add_argument("--channel", metavar="ID", help="channel id")
        records_parser.add_argument("--from", dest="since", metavar="DATE",
                                    help="from this date (JST) or RFC 3339 time")
        records_parser.add_argument("--to", dest="until", metavar="DATE",
                                    help="up to and including this date (JST), or before "
                                         "this RFC 3339 time")
        records_parser.add_argument("--q", metavar="WORDS",
                                    help="words that must appear in some revision")
    search.add_argument("--limit", type=int, default=50, help="at most this many (1-200)")
    search.add_argument("--cursor", help="continue after the previous page")
    search.set_defaults(func=cmd_audit_search)
    export.add_argument("--out", metavar="DIR", required=True,
                        help="directory for messages.jsonl, messages.csv, manifest.json")
    export.add_argument("--format", default="jsonl,csv", help="jsonl,csv (default both)")
    export.set_defaults(func=cmd_audit_export)

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
    place.set_defaults(func=cmd_hold)
    hlist = hsub.add_parser("list", help="active holds")
    hlist.add_argument("--all", action="store_true", help="released ones too")
    hlist.set_defaults(func=cmd_hold)
    release = hsub.add_parser("release", help="release a hold")
    release.add_argument("hold_id", type=int)
    release.set_defaults(func=cmd_hold)

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
