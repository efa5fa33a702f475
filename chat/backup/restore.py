"""Restoring an instance from a backup (``tsunagu restore``), on a machine that may
have no instance yet: every member checked first, then the database, the secrets and
the files put in place, then the schema and the audit log checked.

Only with the schema at this release's head is the restore recorded
(``backup.restored``) and the log verified here: the models of this release cannot
write to an older schema. Otherwise the operator is told to ``tsunagu migrate`` first.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from chat.actions.exports import EXPORTS_DIR
from chat.actions.nodes import STALE_AFTER_BEATS
from chat.audit.record import audit_or_fail
from chat.backup import databases
from chat.backup.archive import BackupError, Manifest, file_sha256, read_archive
from chat.config import Settings
from chat.context import open_context
from chat.domain.audit_actions import AuditAction
from chat.secrets import SECRETS_FILE
from chat.store.migrations import database_revisions, known_revision, script_heads

Say = Callable[[str], None]


@dataclass
class RestoreResult:
    manifest: Manifest
    schema_current: bool
    audit_ok: bool | None = None        # None: not verified here (schema not current)
    next_steps: list[str] = field(default_factory=list)


def _where(settings: Settings) -> str:
    if databases.dialect_of(settings.database_url) == "sqlite":
        return f"the SQLite database {databases.sqlite_file(settings.database_url)}"
    return ("the PostgreSQL database "
            + make_url(settings.database_url).render_as_string(hide_password=True))


async def restore_backup(settings: Settings, archive: Path, *, force: bool, by: str,
                         say: Say, files_only: bool = False) -> RestoreResult:
    """Restore ``archive`` into the instance ``settings`` names. Every node of the
    instance must be stopped. Raises :class:`BackupError` (one line) when the archive is
    damaged, or when the database holds data and ``force`` is not given.

    ``files_only``: the secrets and files without the database (which PostgreSQL's
    point-in-time recovery brought back); an existing, different secrets file is
    replaced only with ``force``."""
    var_dir = settings.var_dir.absolute()
    staging = await asyncio.to_thread(_staging, archive, var_dir)
    try:
        sha256 = await asyncio.to_thread(file_sha256, archive)
        say(f"checking {archive} (sha256 {sha256})")
        manifest = await asyncio.to_thread(read_archive, archive, staging)
        say(f"archive intact: {len(manifest.members)} files, checksums match; made "
            f"{manifest.created_at} by release {manifest.release}, "
            f"{manifest.database['kind']} database at schema "
            f"{', '.join(manifest.schema_revisions)}")
        if files_only:
            await asyncio.to_thread(_check_secrets, var_dir, staging, force=force)
        else:
            await _restore_database(settings, manifest, staging, force=force, say=say)
        for line in await asyncio.to_thread(_restore_files, settings, manifest, staging):
            say(line)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
    if files_only and await databases.contents(settings.database_url) is None:
        return RestoreResult(manifest, schema_current=False, next_steps=[
            f"{_where(settings)} does not exist: recover it, then run `tsunagu migrate` "
            "if told to and `tsunagu audit verify`"])
    return await _check_restored(settings, manifest, archive, sha256, by=by, say=say,
                                 files_only=files_only)


async def _restore_database(settings: Settings, manifest: Manifest, staging: Path, *,
                            force: bool, say: Say) -> None:
    var_dir = settings.var_dir.absolute()
    kind = databases.dialect_of(settings.database_url)
    if manifest.database.get("kind") != kind:
        raise BackupError(f"the backup holds a {manifest.database.get('kind')} database "
                          f"but CHAT_DATABASE_URL names a {kind} one: restore into the "
                          "same kind of database")
    where = _where(settings)
    found = await databases.contents(settings.database_url)
    # A stopping node deletes its heartbeat; one silent for a few beats has stopped.
    quiet = timedelta(seconds=settings.node_heartbeat_seconds * STALE_AFTER_BEATS)
    serving = found.serving(datetime.now(UTC), quiet) if found is not None else []
    if serving:
        raise BackupError(
            f"{len(serving)} node(s) ({', '.join(serving)}) wrote a heartbeat to {where} "
            f"within the last {quiet.total_seconds():.0f} s: stop every node of the "
            "instance before restoring (a node that was killed is taken as stopped once "
            "silent that long)")
    if found is not None and found.holds_data:
        if not force:
            raise BackupError(
                f"refusing to overwrite {where}, which holds {found.summary()}; restoring "
                f"would destroy all of it (and replace {var_dir / SECRETS_FILE}): stop "
                "every node, make a backup of it if it matters, and run restore again "
                "with --force")
        say(f"--force: replacing {where}, which held {found.summary()}")
    dump = staging.joinpath(*str(manifest.database["member"]).split("/"))
    if kind == "sqlite":
        target = databases.sqlite_file(settings.database_url)
        say(f"writing {target} and checking it (PRAGMA integrity_check)")
        await asyncio.to_thread(databases.restore_sqlite, dump, target)
        return
    if found is None:
        say("creating the database (it does not exist)")
        await databases.create_postgres_database(
            settings.database_url, dict(manifest.database.get("settings") or {}))
    say(f"restoring {where} (pg_restore --clean --if-exists --no-owner, one transaction)")
    await databases.restore_postgres(settings.database_url, dump)
    if found is not None and found.tables:
        dropped = await databases.drop_tables_except(
            settings.database_url, await databases.tables_of_dump(dump))
        if dropped:
            say(f"dropped {len(dropped)} table(s) the backup does not have (a newer "
                f"schema's): {', '.join(dropped)}")


def _check_secrets(var_dir: Path, staging: Path, *, force: bool) -> None:
    existing = var_dir / SECRETS_FILE
    if (existing.exists() and not force
            and existing.read_bytes() != (staging / "var" / SECRETS_FILE).read_bytes()):
        raise BackupError(f"refusing to replace {existing}, whose keys differ from the "
                          "backup's (sessions, codes and checkpoints made with them would "
                          "be refused): run again with --force if the backup's are the "
                          "instance's")


def _staging(archive: Path, var_dir: Path) -> Path:
    """A private folder (0700) to check the archive's members in, beside the files."""
    if not archive.is_file():
        raise BackupError(f"no backup file {archive}")
    var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix=".tsunagu-restore-", dir=var_dir))


def _restore_files(settings: Settings, manifest: Manifest, staging: Path) -> list[str]:
    """The secrets (0600, replaced atomically), the exports (the old folder replaced),
    and the anchor file (never over an existing one: it may know later checkpoints)."""
    var_dir = settings.var_dir.absolute()
    lines = []
    secrets = staging / "var" / SECRETS_FILE
    _install(secrets, var_dir / SECRETS_FILE)
    lines.append(f"wrote {var_dir / SECRETS_FILE} (mode 0600): the instance's keys")
    exports = [m for m in manifest.member("var")
               if m.name.startswith(f"var/{EXPORTS_DIR}/")]
    if (var_dir / EXPORTS_DIR).exists():
        shutil.rmtree(var_dir / EXPORTS_DIR)
    for member in exports:
        relative = member.name.removeprefix("var/")
        _install(staging.joinpath(*member.name.split("/")), var_dir.joinpath(
            *relative.split("/")))
    if exports:
        lines.append(f"wrote {len(exports)} export file(s) under {var_dir / EXPORTS_DIR}")
    for member in manifest.member("anchor"):
        source = staging.joinpath(*member.name.split("/"))
        target = settings.audit_anchor_file or var_dir / f"restored-{source.name}"
        if target.exists():
            lines.append(f"kept the existing anchor file {target} (it may hold checkpoints "
                         "newer than the backup; the archive's copy was not written)")
        else:
            _install(source, target)
            lines.append(f"wrote the audit anchor file {target}"
                         + ("" if settings.audit_anchor_file else
                            " (set CHAT_AUDIT_ANCHOR_FILE to it, or move it there)"))
    return lines


def _install(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.replace(databases.private_copy_beside(source, target), target)


async def _check_restored(settings: Settings, manifest: Manifest, archive: Path,
                          sha256: str, *, by: str, say: Say,
                          files_only: bool) -> RestoreResult:
    heads = set(script_heads(settings.database_url))
    revisions = set(await database_revisions(settings.database_url))
    result = RestoreResult(manifest, schema_current=revisions == heads)
    if not result.schema_current:
        if all(known_revision(settings.database_url, r) for r in revisions):
            result.next_steps += [
                f"the restored schema ({', '.join(sorted(revisions))}) is older than this "
                f"release's ({', '.join(sorted(heads))}): run `tsunagu migrate`",
                "then run `tsunagu audit verify` (the restore is not in the audit log: "
                "this release cannot write to the older schema)"]
        else:
            result.next_steps.append(
                f"the restored schema ({', '.join(sorted(revisions))}) is newer than this "
                "release knows: restore with the release that made it "
                f"({manifest.release})")
        return result
    from chat.actions.audit import verify_log
    from chat.domain.auditchain import parse_anchors

    anchor = settings.audit_anchor_file
    anchors = []
    if anchor is not None and await asyncio.to_thread(anchor.is_file):
        try:
            anchors = parse_anchors(await asyncio.to_thread(anchor.read_text,
                                                            encoding="utf-8"))
        except (OSError, ValueError) as error:
            result.next_steps.append(f"the anchor file {anchor} was not read ({error}): "
                                     "check it with `tsunagu audit verify --anchor`")
    async with open_context(settings) as ctx:
        counts = manifest.database.get("counts", {})
        await audit_or_fail(ctx, AuditAction.BACKUP_RESTORED, archive=str(archive),
                            sha256=sha256, created_at=manifest.created_at,
                            release=manifest.release, schema=manifest.schema_revisions,
                            database=str(manifest.database["kind"]),
                            messages=counts.get("messages"), files_only=files_only,
                            by=by)
        say("checking the audit log (tsunagu audit verify)")
        report = await verify_log(ctx, anchors=anchors)
    result.audit_ok = report.ok
    if report.ok:
        say(f"audit log intact: {report.entries} entries, {report.checkpoints} signed "
            f"checkpoints, {report.messages} messages checked")
    else:
        say(f"AUDIT LOG DOES NOT VERIFY after the restore ({len(report.problems)} "
            "problem(s)):")
        for problem in report.problems[:10]:
            say(f"  {problem}")
        if anchors:
            result.next_steps.append(
                f"the anchor file {anchor} may name checkpoints made after this backup: "
                "the restored log ends before them, which is what an anchor exists to "
                "show (docs/backup.md)")
    return result
