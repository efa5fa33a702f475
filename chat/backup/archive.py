"""The backup archive: one tar file, its members listed with their SHA-256 in
``manifest.json`` (the last member), written mode 0600 because it holds the instance's keys.

Layout (format version 1)::

    database/tsunagu.sqlite3 | database/tsunagu.pgdump   the database (one of the two)
    var/secrets.json                                       the instance secrets
    var/exports/<job>/<file>                               auditors' finished exports
    anchor/<name>                                          CHAT_AUDIT_ANCHOR_FILE's copy
    manifest.json                                          what is above, and how to read it

The checksums catch a damaged or truncated copy, not a forger (who can rewrite the
manifest too): copies kept off the machine are encrypted and signed (docs/backup.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import IO, Any

FORMAT = "tsunagu-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Top-level folders a member may be in, and what each holds.
ROLES = {"database": "the database", "var": "a file of CHAT_VAR_DIR",
         "anchor": "the audit anchor file"}
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is one line for the operator."""


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str

    @property
    def role(self) -> str:
        return PurePosixPath(self.name).parts[0]


@dataclass
class Manifest:
    created_at: str                         # RFC 3339 UTC (wire time)
    release: str                            # the tsunagu package's version
    schema_revisions: list[str]             # Alembic revisions the database was at
    database: dict[str, Any]                # kind, member, source, counts
    members: list[Member] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "format_version": self.format_version,
            "created_at": self.created_at, "release": self.release,
            "schema_revisions": self.schema_revisions, "database": self.database,
            "members": [{"name": m.name, "size": m.size, "sha256": m.sha256}
                        for m in self.members],
        }, ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise BackupError("not a Tsunagu backup (its manifest names another format)")
            if data["format_version"] != FORMAT_VERSION:
                raise BackupError(f"backup format version {data['format_version']} is not "
                                  f"one this release reads ({FORMAT_VERSION}): use the "
                                  "release that made it")
            members = [Member(str(m["name"]), int(m["size"]), str(m["sha256"]))
                       for m in data["members"]]
            return cls(created_at=str(data["created_at"]), release=str(data["release"]),
                       schema_revisions=[str(r) for r in data["schema_revisions"]],
                       database=dict(data["database"]), members=members)
        except (ValueError, KeyError, TypeError) as error:
            raise BackupError(f"the backup's manifest is unreadable: {error}") from None

    def member(self, role: str) -> list[Member]:
        return [m for m in self.members if m.role == role]


def _check_name(name: str) -> PurePosixPath:
    """A member name as a relative path inside one of :data:`ROLES` (no ``..``)."""
    path = PurePosixPath(name)
    if (path.is_absolute() or ".." in path.parts or len(path.parts) < 2
            or path.parts[0] not in ROLES):
        raise BackupError(f"the backup holds an unexpected member {name!r}")
    return path


class _Hashing:
    """A file read through SHA-256, as tarfile copies it into the archive."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh, self.digest = fh, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.digest.update(data)
        return data


class ArchiveWriter:
    """Write members one by one (each hashed as it is copied), then the manifest.

    The file is made with ``O_EXCL`` and mode 0600 under a ``.partial`` name and renamed
    once complete and synced, so a failed run never leaves a file that looks whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh = os.fdopen(fd, "wb")
        self._tar = tarfile.open(fileobj=self._fh, mode="w", format=tarfile.PAX_FORMAT)
        self.members: list[Member] = []

    def add(self, source: Path, name: str) -> Member:
        """Copy ``source`` in as ``name``: as many bytes as it had when opened (a file
        that grows meanwhile is cut there; the checksum covers what was copied)."""
        _check_name(name)
        with source.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = size, 0o600, int(os.fstat(fh.fileno()).st_mtime)
            reader = _Hashing(fh)
            self._tar.addfile(info, reader)
        member = Member(name, size, reader.digest.hexdigest())
        self.members.append(member)
        return member

    def finish(self, manifest: Manifest) -> str:
        """Write the manifest, sync and rename; returns the archive's SHA-256."""
        manifest.members = list(self.members)
        data = manifest.to_json().encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(data), 0o600, int(os.path.getmtime(self.partial))
        self._tar.addfile(info, BytesIO(data))
        self._tar.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.partial, self.path)
        _fsync_dir(self.path.parent)
        return file_sha256(self.path)

    def abandon(self) -> None:
        try:
            self._tar.close()
            self._fh.close()
        except Exception:
            pass
        self.partial.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_archive(archive: Path, into: Path) -> Manifest:
    """Extract ``archive`` under ``into`` (a private folder), checking every member
    against the manifest: each listed once, none unlisted, sizes and SHA-256 equal.
    Raises :class:`BackupError` naming the first problem; nothing is trusted before."""
    try:
        tar = tarfile.open(archive, mode="r:")
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"cannot read {archive}: {error}") from None
    seen: dict[str, tuple[int, str]] = {}
    manifest_text: str | None = None
    try:
        with tar:
            for info in _members(tar):
                if info.name == MANIFEST:
                    fh = tar.extractfile(info)
                    assert fh is not None
                    manifest_text = fh.read().decode("utf-8")
                    continue
                path = _check_name(info.name)
                if info.name in seen:
                    raise BackupError(f"the backup holds {info.name} twice")
                target = into.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                digest = hashlib.sha256()
                data = tar.extractfile(info)
                assert data is not None
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while chunk := data.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                seen[info.name] = (info.size, digest.hexdigest())
    except (OSError, tarfile.TarError, EOFError) as error:
        raise BackupError(f"{archive} is damaged or truncated: {error}") from None
    if manifest_text is None:
        raise BackupError(f"{archive} has no {MANIFEST}: not a complete Tsunagu backup")
    manifest = Manifest.from_json(manifest_text)
    listed = {m.name: m for m in manifest.members}
    for name in sorted(set(seen) - set(listed)):
        raise BackupError(f"the backup holds {name}, which its manifest does not list")
    for member in manifest.members:
        if member.name not in seen:
            raise BackupError(f"the backup lacks {member.name}, which its manifest lists")
        size, sha = seen[member.name]
        if size != member.size or sha != member.sha256:
            raise BackupError(f"checksum mismatch: {member.name} is not what was backed up "
                              f"(sha256 {sha[:16]}…, the manifest says "
                              f"{member.sha256[:16]}…); the archive was damaged or altered")
    return manifest


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for info in tar:
        if not info.isfile():
            raise BackupError(f"the backup holds {info.name!r}, which is not a plain file")
        yield info
