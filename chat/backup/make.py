"""Making a backup of a running instance (``tsunagu backup``): the files first, then
the database, into one archive (:mod:`chat.backup.archive`).

The files go in before the database snapshot on purpose: an audit anchor or an export
copied before it names nothing the snapshot lacks (a checkpoint is committed before it
is appended to the anchor file), so the restored log verifies against the restored
anchors.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy.engine import make_url

from chat.actions.exports import EXPORTS_DIR
from chat.audit.record import audit_or_fail
from chat.backup import databases
from chat.backup.archive import ArchiveWriter, BackupError, Manifest, Member
from chat.config import Settings
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.dates import wire_time
from chat.secrets import SECRETS_FILE
from chat.store.migrations import database_revisions

Say = Callable[[str], None]
ARCHIVE_PREFIX = "tsunagu-backup-"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    sha256: str
    size: int
    manifest: Manifest

    def summary(self) -> str:
        counts = self.manifest.database.get("counts", {})
        held = ", ".join(f"{counts[t]:,} {label}" for t, label in databases.COUNTED.items()
                         if t in counts)
        return (f"backup written: {self.path} ({_size(self.size)}, mode 0600, "
                f"{len(self.manifest.members)} files; {self.manifest.database['kind']} "
                f"database at schema {', '.join(self.manifest.schema_revisions)}: {held}); "
                f"sha256 {self.sha256}. It holds the instance's secret keys: keep it "
                "encrypted, off this machine.")


def release() -> str:
    try:
        return version("tsunagu")
    except PackageNotFoundError:
        return "unknown"


def archive_path(out: Path, now: datetime) -> Path:
    """``--out``: a folder (made if missing) gets ``tsunagu-backup-<UTC time>.tar``; a
    path ending in ``.tar`` is the archive itself. Never an existing file."""
    if out.suffix == ".tar" and not out.is_dir():
        path = out
    else:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = out / f"{ARCHIVE_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}.tar"
    if path.exists():
        raise BackupError(f"{path} exists already: backups are never overwritten")
    if not path.parent.is_dir():
        raise BackupError(f"no folder {path.parent} to write the backup in")
    return path


def var_files(settings: Settings) -> list[tuple[Path, str]]:
    """(file, member name) for each file of the instance besides the database: the
    secrets (required), finished exports, and the audit anchor file when configured."""
    var_dir = settings.var_dir.absolute()
    secrets = var_dir / SECRETS_FILE
    if not secrets.is_file():
        raise BackupError(f"no instance secrets at {secrets}: nothing a restore could "
                          "use the database with (set CHAT_VAR_DIR to the servers' folder)")
    files = [(secrets, f"var/{SECRETS_FILE}")]
    exports = var_dir / EXPORTS_DIR
    if exports.is_dir():
        files += [(path, f"var/{path.relative_to(var_dir).as_posix()}")
                  for path in sorted(exports.rglob("*")) if path.is_file()]
    anchor = settings.audit_anchor_file
    if anchor is not None and anchor.is_file():
        files.append((anchor, f"anchor/{anchor.name}"))
    return files


async def make_backup(settings: Settings, out: Path, *, say: Say) -> BackupResult:
    """Write one archive of the instance ``settings`` names, beside its serving nodes.
    Raises :class:`BackupError` (one line) on any failure, leaving no partial file."""
    now = datetime.now(UTC)
    try:
        path = archive_path(out, now)
        say(f"writing {path}")
        writer = ArchiveWriter(path)
    except OSError as error:
        raise _os_error(out, error) from None
    try:
        staging = Path(tempfile.mkdtemp(prefix=".tsunagu-backup-", dir=path.parent))
    except OSError as error:
        writer.abandon()
        raise _os_error(path, error) from None
    try:
        manifest = await _write(settings, writer, staging, now, say)
        sha256 = await asyncio.to_thread(writer.finish, manifest)
    except BaseException as error:
        writer.abandon()
        if isinstance(error, OSError):
            raise _os_error(path, error) from None
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
    return BackupResult(path, sha256, path.stat().st_size, manifest)


async def _write(settings: Settings, writer: ArchiveWriter, staging: Path, now: datetime,
                 say: Say) -> Manifest:
    """The files, then the database (see the module's docstring for why in that order)."""
    for source, name in var_files(settings):
        _said(say, await asyncio.to_thread(writer.add, source, name))
    revisions = list(await database_revisions(settings.database_url))
    kind = databases.dialect_of(settings.database_url)
    database: dict[str, object] = {"kind": kind}
    if kind == "sqlite":
        source = databases.sqlite_file(settings.database_url)
        copy = staging / "tsunagu.sqlite3"
        say(f"copying the SQLite database {source} (online backup, one snapshot)")
        await asyncio.to_thread(databases.copy_sqlite, source, copy)
        found = await databases.contents(f"sqlite+aiosqlite:///{copy}")
        database.update(member="database/tsunagu.sqlite3", source=str(source))
    else:
        copy = staging / "tsunagu.pgdump"
        say("dumping the PostgreSQL database (pg_dump --format=custom)")
        database["settings"] = await databases.dump_postgres(settings.database_url, copy)
        found = await databases.contents(settings.database_url)
        database.update(member="database/tsunagu.pgdump",
                        source=_redacted(settings.database_url))
    database["counts"] = found.counts if found else {}
    _said(say, await asyncio.to_thread(writer.add, copy, str(database["member"])))
    return Manifest(created_at=wire_time(now), release=release(),
                    schema_revisions=revisions, database=database)


async def audit_backup(ctx: AppContext, result: BackupResult, *, by: str) -> None:
    """``backup.created`` in the live instance's log (after the snapshot, so the entry
    names the finished archive and is not in it)."""
    manifest = result.manifest
    counts = manifest.database.get("counts", {})
    await audit_or_fail(ctx, AuditAction.BACKUP_CREATED, archive=str(result.path),
                        sha256=result.sha256, size=result.size,
                        database=str(manifest.database["kind"]),
                        schema=manifest.schema_revisions, files=len(manifest.members),
                        messages=counts.get("messages"),
                        audit_entries=counts.get("audit_events"), by=by)


def _said(say: Say, member: Member) -> None:
    say(f"  {member.name} ({_size(member.size)})")


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    value, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _os_error(path: Path, error: OSError) -> BackupError:
    if error.errno == errno.ENOSPC:
        return BackupError(f"no space left on the device of {path.parent}: the backup was "
                           "not written (free space or choose another --out)")
    return BackupError(f"writing the backup {path} failed: {error.strerror or error}"
                       + (f" ({error.filename})" if error.filename else ""))
