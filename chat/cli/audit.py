"""`tsunagu audit verify|checkpoint|anchor|public-key|search|export`: the tamper-evident
log, its anchors kept outside the database, and the auditors' search and export."""


from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from chat.cli import audit_log
from chat.cli.common import (
    Subcommands,
    cell,
    operator,
    progress,
    run_offline,
)
from chat.config import Settings
from chat.context import AppContext
from chat.domain.records import RecordFilters
from chat.errors import BadRequest
from chat.secrets import InstanceSecrets


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions import audit as audit_actions
    from chat.domain.auditchain import load_public_pem, parse_anchors, public_pem, signing_key

    if args.audit_command == "public-key":
        secrets = InstanceSecrets.load_or_create(settings.var_dir)
        print(public_pem(signing_key(secrets.audit_signing_key).public_key()), end="")
        return 0
    if args.audit_command == "checkpoint":
        checkpoint = run_offline(settings, audit_actions.make_checkpoint)
        if checkpoint is None:
            print("nothing new to sign: the chain head is already checkpointed (or empty)")
        else:
            print(f"signed checkpoint at entry {checkpoint.seq} "
                  f"(hash {checkpoint.hash[:16]}…, key {checkpoint.key_id})")
        return 0
    if args.audit_command == "anchor":
        return _write_anchor(settings, Path(args.out))
    public_key = None
    if args.public_key:
        try:
            public_key = load_public_pem(Path(args.public_key).read_bytes())
        except (OSError, ValueError) as error:
            print(f"error: {args.public_key}: {error}", file=sys.stderr)
            return 2
    anchors = []
    anchor_files = [Path(a) for a in args.anchor or ()]
    if settings.audit_anchor_file is not None and settings.audit_anchor_file.exists() and (
            settings.audit_anchor_file not in anchor_files):
        anchor_files.append(settings.audit_anchor_file)
    for anchor_file in anchor_files:
        try:
            anchors += parse_anchors(anchor_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"error: anchor file {anchor_file}: {error}", file=sys.stderr)
            return 2
    if anchor_files:
        print(f"checking {len(anchors)} anchor(s) from "
              f"{', '.join(str(f) for f in anchor_files)}", file=sys.stderr)
    report = run_offline(settings, lambda ctx: audit_actions.verify_log(
        ctx, public_key=public_key, progress=progress("verifying"), anchors=anchors))
    summary = (f"{report.entries} audit entries, {report.checkpoints} signed checkpoints, "
               f"{report.anchors} anchors, {report.messages} messages, "
               f"{report.revisions} message revisions checked")
    if report.ok:
        print(f"audit log intact: {summary}")
        return 0
    print(f"AUDIT LOG TAMPERED: {summary}", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _write_anchor(settings: Settings, out: Path) -> int:
    """Sign the head now (when it moved) and write the newest checkpoint to ``out`` as
    JSON, for safekeeping away from the database (``verify --anchor``)."""
    from chat.actions import audit as audit_actions

    async def job(ctx: AppContext) -> tuple[bool, Any]:
        made = await audit_actions.make_checkpoint(ctx)
        return made is not None, await audit_actions.newest_checkpoint(ctx)

    made, checkpoint = run_offline(settings, job)
    if checkpoint is None:
        print("error: the audit log is empty: nothing to anchor", file=sys.stderr)
        return 1
    anchor = audit_actions.anchor_of(checkpoint)
    try:
        out.write_text(anchor.to_json() + "\n", encoding="utf-8")
    except OSError as error:
        print(f"error: {out}: {error}", file=sys.stderr)
        return 2
    number = f"#{anchor.number}" if anchor.number is not None else "(unnumbered)"
    print(f"{'signed and ' if made else ''}wrote checkpoint {number} at entry {anchor.seq} "
          f"(hash {anchor.hash[:16]}…, key {anchor.key_id}) to {out}; keep it away from "
          "the database and check it with `tsunagu audit verify --anchor FILE`")
    return 0


def _record_filters(args: argparse.Namespace) -> RecordFilters:
    from chat.domain.records import parse_filters

    try:
        return parse_filters(user=args.user, channel_id=args.channel, since=args.since,
                             until=args.until, words=args.q)
    except ValueError as error:
        raise BadRequest(str(error)) from None


def cmd_audit_search(settings: Settings, args: argparse.Namespace) -> int:
    """Auditor search from the command line (audited as records.searched, by operator)."""
    from chat.actions.records import search_messages
    from chat.domain.export import jst

    filters = _record_filters(args)
    result = run_offline(settings, lambda ctx: search_messages(
        ctx, actor=operator(), filters=filters, cursor=args.cursor, limit=args.limit,
        reason=args.reason))
    print(f"{'id':>7}  {'time (JST)':<16}  {cell('channel', 12)} {cell('sender', 16)} "
          f"{'state':<7} {'rev':>3}  text")
    for m in result["messages"]:
        sender = m["sender"]
        texts = [r["body"] for r in m["revisions"] if r["body"]]
        text = "(purged)" if m["state"] == "purged" else (texts[-1] if texts else "")
        when = jst(datetime.fromisoformat(m["created_at"]))[:16].replace("T", " ")
        who = f"{sender['staff_number']} {sender['name']}" if sender else "-"
        print(f"{m['id']:>7}  {when:<16}  {cell(m['channel']['name'], 12)} "
              f"{cell(who, 16)} {m['state']:<7} {len(m['revisions']):>3}  "
              f"{' '.join(text.split())[:40]}")
    print(f"{len(result['messages'])} message(s)")
    if result["next_cursor"]:
        print(f"more: add --cursor {result['next_cursor']}")
    return 0


def cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    """Export inline into --out (audited as records.export_started / records.exported)."""
    from chat.actions.exports import keep_alive, run_export, start_export
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
        started = await start_export(ctx, actor=operator(), filters=filters, formats=formats,
                                     reason=args.reason)
        async with keep_alive(ctx, started["id"]):
            return await run_export(ctx, job_id=started["id"], directory=out,
                                    progress=progress("exporting"))

    manifest = run_offline(settings, job)
    counts = manifest["counts"]
    print(f"export {manifest['export_id']}: {counts['messages']} messages "
          f"({counts['purged']} purged), {counts['revisions']} revisions")
    for f in manifest["files"]:
        print(f"  {out / f['name']}: {f['rows']} rows, {f['bytes']} bytes, "
              f"sha256 {f['sha256']}")
    print(f"manifest: {out / MANIFEST_FILE}")
    return 0


def register(sub: Subcommands) -> None:
    audit = sub.add_parser("audit", help="verify and sign the tamper-evident audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = asub.add_parser("verify", help="walk the hash chain, checkpoints and message "
                                            "revisions; exit 1 naming what was tampered")
    verify.add_argument("--public-key", metavar="PEM",
                        help="check checkpoints with this exported key instead of the "
                             "instance's own")
    verify.add_argument("--anchor", metavar="FILE", action="append",
                        help="anchors kept outside the database (one JSON anchor or JSON "
                             "lines; repeatable): fail if the log no longer holds them. "
                             "CHAT_AUDIT_ANCHOR_FILE, when it exists, is checked too")
    verify.set_defaults(func=cmd_audit)
    anchor = asub.add_parser("anchor", help="sign the head now and write the newest "
                                            "checkpoint as JSON, to keep outside the "
                                            "database")
    anchor.add_argument("--out", metavar="FILE", required=True,
                        help="where to write the anchor (JSON)")
    anchor.set_defaults(func=cmd_audit)
    asub.add_parser("checkpoint", help="sign the chain head now (Ed25519)").set_defaults(
        func=cmd_audit)
    asub.add_parser("public-key", help="print the checkpoint public key (PEM) for third "
                                       "parties").set_defaults(func=cmd_audit)
    search = asub.add_parser("search", help="search every message and revision (auditor; "
                                            "the search is itself audited)")
    export = asub.add_parser("export", help="export messages with all revisions to JSON "
                                            "Lines and CSV, with a SHA-256 manifest")
    for records_parser in (search, export):
        records_parser.add_argument("--reason", help="why (3-500 characters): the people "
                                                     "whose messages are read see it")
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
    audit_log.register(asub)  # `tsunagu audit log` (chat/cli/audit_log.py)
