"""`tsunagu backup` and `tsunagu restore`: the whole instance in one archive and back
(chat/backup, docs/backup.md). Progress goes to stderr, the result to stdout; a failure
is one line and a non-zero exit."""


from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from chat.cli.common import Subcommands, operator, run_offline
from chat.config import Settings


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from chat.backup.archive import BackupError
    from chat.backup.make import audit_backup, make_backup

    try:
        result = asyncio.run(make_backup(settings, Path(args.out), say=_say))
    except BackupError as error:
        print(f"tsunagu backup: {error}", file=sys.stderr)
        return 1
    print(result.summary())
    by = operator()
    try:
        run_offline(settings, lambda ctx: audit_backup(ctx, result, by=by))
    except Exception as error:
        print(f"tsunagu backup: the archive is complete but backup.created could not be "
              f"recorded in the audit log: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from chat.backup.archive import BackupError
    from chat.backup.restore import restore_backup

    try:
        result = asyncio.run(restore_backup(settings, Path(args.archive), force=args.force,
                                            by=operator(), say=_say,
                                            files_only=args.files_only))
    except BackupError as error:
        print(f"tsunagu restore: {error}", file=sys.stderr)
        return 1
    what = "the files of the backup" if args.files_only else "the backup"
    print(f"restored {what} made {result.manifest.created_at}")
    for step in result.next_steps:
        print(f"next: {step}")
    if result.audit_ok is False:
        return 1
    if result.schema_current:
        print("the instance is ready: start the nodes (`tsunagu serve`)")
    return 0


def register(sub: Subcommands) -> None:
    backup = sub.add_parser(
        "backup", help="write the database, the instance secrets and the files that "
        "matter into one archive (mode 0600: it holds the keys)")
    backup.add_argument("--out", required=True, metavar="DIR|FILE.tar",
                        help="a folder (gets tsunagu-backup-<UTC time>.tar; made if "
                        "missing) or the archive's path ending in .tar; never overwritten")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="restore an instance from a `tsunagu backup` archive (stop every "
        "node first); works where no instance exists yet")
    restore.add_argument("archive", help="the .tar written by `tsunagu backup`")
    restore.add_argument("--force", action="store_true",
                         help="replace a database that holds data (it is destroyed)")
    restore.add_argument("--files-only", action="store_true",
                         help="only the secrets and files, not the database (after "
                         "PostgreSQL point-in-time recovery)")
    # Like `migrate`, restore may meet no instance (chat.cli.main skips the check).
    restore.set_defaults(func=cmd_restore, creates_instance=True)
