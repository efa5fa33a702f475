"""`tsunagu` run from the wrong folder names the database and folder it looked at and
stops (exit 2), creating nothing; only `tsunagu migrate` creates an instance. An old or
foreign schema is caught the same way."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support import REPO_ROOT


def tsunagu(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in ``cwd`` with no CHAT_* setting but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    clean.update(PYTHONPATH=str(REPO_ROOT), **env)
    return subprocess.run([sys.executable, "-m", "chat.cli", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=120, check=False)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_command_in_a_folder_without_an_instance_creates_nothing(tmp_path: Path) -> None:
    for command in (("device", "list"), ("import", "staff", "staff.csv"),
                    ("device", "revoke", "1"), ("audit", "public-key"), ("seed-demo",),
                    ("serve",)):
        result = tsunagu(tmp_path, *command)
        assert result.returncode == 2, (command, result.stderr)
        message = result.stderr
        assert str(tmp_path / "var" / "tsunagu.db") in message, message
        assert "CHAT_DATABASE_URL" in message and "CHAT_VAR_DIR" in message
        assert "tsunagu migrate" in message
        assert "Traceback" not in message
        assert len(message.strip().splitlines()) == 1   # one paragraph
        assert files_under(tmp_path) == []              # no var/, no secrets, no database


def test_the_message_names_the_folder_the_settings_point_at(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = tsunagu(tmp_path, "device", "list", CHAT_VAR_DIR=str(elsewhere))
    assert result.returncode == 2
    assert str(elsewhere / "tsunagu.db") in result.stderr
    assert not elsewhere.exists()


def test_migrate_creates_the_instance_and_then_commands_run(tmp_path: Path) -> None:
    result = tsunagu(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "tsunagu.db").exists()
    secrets = tmp_path / "var" / "secrets.json"
    assert secrets.exists() and secrets.stat().st_mode & 0o077 == 0
    listed = tsunagu(tmp_path, "device", "list")
    assert listed.returncode == 0, listed.stderr
    assert "no devices enrolled" in listed.stdout


def test_an_old_or_unknown_schema_and_missing_secrets_are_named(tmp_path: Path) -> None:
    assert tsunagu(tmp_path, "migrate").returncode == 0
    db_file = tmp_path / "var" / "tsunagu.db"
    (head,) = sqlite3.connect(db_file).execute(
        "SELECT version_num FROM alembic_version").fetchone()

    def set_revision(revision: str) -> None:
        with sqlite3.connect(db_file) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))

    set_revision("0017")
    old = tsunagu(tmp_path, "device", "list")
    assert old.returncode == 2
    assert "0017" in old.stderr and head in old.stderr and "tsunagu migrate" in old.stderr
    # A newer release whose migration contracted the schema records so (docs/upgrade.md).
    set_revision("9999")
    with sqlite3.connect(db_file) as conn:
        conn.execute("UPDATE system_settings SET value = '\"9999\"' "
                     "WHERE key = 'schema.serves_from'")
    newer = tsunagu(tmp_path, "device", "list")
    assert newer.returncode == 2 and "newer" in newer.stderr
    set_revision(head)

    (tmp_path / "var" / "secrets.json").rename(tmp_path / "kept.json")
    no_secrets = tsunagu(tmp_path, "device", "list")
    assert no_secrets.returncode == 2
    assert "secrets.json" in no_secrets.stderr and str(tmp_path / "var") in no_secrets.stderr
    assert not (tmp_path / "var" / "secrets.json").exists()
    # migrate on a database that has its schema does not make new secrets: the servers'
    # file must be copied (a new one would refuse their sessions and codes).
    again = tsunagu(tmp_path, "migrate")
    assert again.returncode == 0
    assert "copy the servers' file" in again.stderr
    assert not (tmp_path / "var" / "secrets.json").exists()

    empty = tmp_path / "empty.db"
    empty.touch()
    foreign = tsunagu(tmp_path, "device", "list", CHAT_DATABASE_URL=f"sqlite+aiosqlite:///{empty}")
    assert foreign.returncode == 2 and "no schema" in foreign.stderr
