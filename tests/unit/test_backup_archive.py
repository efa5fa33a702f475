"""The backup archive's format (chat/backup/archive.py): what is written, and what a
restore refuses to trust — members outside the known folders, unlisted or missing
ones, links, another format. The whole backup and restore run in
integration/test_backup_restore.py."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from chat.backup.archive import ArchiveWriter, BackupError, Manifest, read_archive


def written(tmp_path: Path) -> Path:
    (tmp_path / "secrets.json").write_text('{"session_key": "a2V5"}')
    (tmp_path / "db").write_bytes(b"SQLite format 3\0" + bytes(5000))
    writer = ArchiveWriter(tmp_path / "backup.tar")
    writer.add(tmp_path / "secrets.json", "var/secrets.json")
    writer.add(tmp_path / "db", "database/tsunagu.sqlite3")
    writer.finish(Manifest(created_at="2026-12-07T00:00:00Z", release="0.1.0",
                           schema_revisions=["0020"], database={"kind": "sqlite"}))
    return tmp_path / "backup.tar"


def rewritten(archive: Path, extra: tarfile.TarInfo | None = None, data: bytes = b"",
              manifest: dict[str, object] | None = None) -> Path:
    """A copy of ``archive`` with one more member and/or another manifest."""
    out = archive.with_name("changed.tar")
    with tarfile.open(archive) as source, tarfile.open(out, "w") as target:
        for info in source.getmembers():
            content = source.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == "manifest.json" and manifest is not None:
                content = json.dumps(manifest).encode()
                info.size = len(content)
            target.addfile(info, io.BytesIO(content))
        if extra is not None:
            extra.size = len(data)
            target.addfile(extra, io.BytesIO(data))
    return out


def test_an_archive_reads_back_with_its_manifest(tmp_path: Path) -> None:
    archive = written(tmp_path)
    assert archive.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("*.partial"))
    with tarfile.open(archive) as tar:
        assert tar.getnames()[-1] == "manifest.json"
    into = tmp_path / "out"
    into.mkdir()
    manifest = read_archive(archive, into)
    assert [m.name for m in manifest.members] == ["var/secrets.json",
                                                  "database/tsunagu.sqlite3"]
    assert (into / "database" / "tsunagu.sqlite3").read_bytes() == (tmp_path / "db").read_bytes()
    assert manifest.schema_revisions == ["0020"]


def test_an_abandoned_archive_leaves_nothing(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path / "backup.tar")
    writer.abandon()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "elsewhere/file",
                                  "var/../../escape"])
def test_members_outside_the_known_folders_are_refused(tmp_path: Path, name: str) -> None:
    archive = rewritten(written(tmp_path), tarfile.TarInfo(name), b"x")
    with pytest.raises(BackupError, match="unexpected member"):
        read_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escape").exists()


def test_an_unlisted_member_a_link_and_a_missing_one_are_refused(tmp_path: Path) -> None:
    archive = written(tmp_path)
    with pytest.raises(BackupError, match="does not list"):
        read_archive(rewritten(archive, tarfile.TarInfo("var/exports/1/x.csv"), b"a"),
                     tmp_path / "a")
    link = tarfile.TarInfo("var/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    with pytest.raises(BackupError, match="not a plain file"):
        read_archive(rewritten(archive, link), tmp_path / "b")
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    manifest["members"].append({"name": "var/exports/2/y.csv", "size": 1, "sha256": "0"})
    with pytest.raises(BackupError, match=r"lacks var/exports/2/y\.csv"):
        read_archive(rewritten(archive, manifest=manifest), tmp_path / "c")


def test_another_format_is_refused(tmp_path: Path) -> None:
    archive = written(tmp_path)
    with pytest.raises(BackupError, match="not a Tsunagu backup"):
        read_archive(rewritten(archive, manifest={"format": "other"}), tmp_path / "a")
    (tmp_path / "plain.txt").write_text("not a tar")
    with pytest.raises(BackupError, match="cannot read"):
        read_archive(tmp_path / "plain.txt", tmp_path / "b")
