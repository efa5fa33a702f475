"""`tsunagu audit log`: read the audit log with the console's filters (a table, or
``--json``). A subcommand of ``tsunagu audit``; :func:`register` is called from
:mod:`chat.cli.audit`. The read is audited as ``audit.log_viewed`` by the operator."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from chat.cli.common import Subcommands, cell, operator, run_offline
from chat.config import Settings
from chat.errors import BadRequest


def _who(person: dict[str, Any] | None, detail: dict[str, Any]) -> str:
    if person:
        return f"{person['staff_number']} {person['name']}"
    by = detail.get("by")
    return str(by) if by else "-"


def cmd_audit_log(settings: Settings, args: argparse.Namespace) -> int:
    from chat.actions.audit_log import read_audit_log
    from chat.domain.audit_log import page_size, parse_before, parse_log_filters
    from chat.domain.export import jst

    try:
        filters = parse_log_filters(action=args.action, actor=args.actor, subject=args.subject,
                                    since=args.since, until=args.until, outcome=args.outcome)
        limit = page_size(args.limit)
        before = parse_before(args.before)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    result = run_offline(settings, lambda ctx: read_audit_log(
        ctx, actor=operator(), filters=filters, before_id=before, limit=limit))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"{'seq':>7}  {'time (JST)':<19}  {cell('action', 30)} {'outcome':<8} "
          f"{cell('actor', 18)} {cell('subject', 18)} detail")
    for e in result["entries"]:
        when = jst(datetime.fromisoformat(e["at"].replace("Z", "+00:00")))[:19]
        detail = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)
        print(f"{e['seq']:>7}  {when.replace('T', ' '):<19}  {cell(e['action'], 30)} "
              f"{e['outcome']:<8} {cell(_who(e['actor'], e['detail']), 18)} "
              f"{cell(_who(e['subject'], {}), 18)} {detail[:60]}")
    print(f"{len(result['entries'])} entr{'y' if len(result['entries']) == 1 else 'ies'}")
    if result["next_before"]:
        print(f"older: add --before {result['next_before']}")
    return 0


def register(asub: Subcommands) -> None:
    """Add ``log`` to the ``tsunagu audit`` subcommands ``asub``."""
    log = asub.add_parser("log", help="read the audit log, newest first, filtered (the read "
                                      "is itself audited)")
    log.add_argument("--action", help="an action name (session.signed_in) or a prefix "
                                      "(session. or session*)")
    log.add_argument("--actor", metavar="STAFF", help="who acted (staff number)")
    log.add_argument("--subject", metavar="STAFF", help="whom it concerned (staff number)")
    log.add_argument("--from", dest="since", metavar="DATE",
                     help="from this date (JST) or RFC 3339 time")
    log.add_argument("--to", dest="until", metavar="DATE",
                     help="up to and including this date (JST), or before this RFC 3339 time")
    log.add_argument("--outcome", choices=["ok", "refused", "failed", "ignored"])
    log.add_argument("--limit", default=50, help="at most this many (1-200)")
    log.add_argument("--before", metavar="ID", help="entries older than this id (paging)")
    log.add_argument("--json", action="store_true", help="print JSON instead of a table")
    log.set_defaults(func=cmd_audit_log)
