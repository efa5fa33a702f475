"""Backup and restore (docs/backup.md), with the real `tsunagu backup` and `tsunagu
restore` in subprocesses, on both backends.

The drill: a serving node under a steady load of sends; the backup taken while they
go on; node, database and data folder destroyed; the archive restored. Then the audit
log verifies, every message acknowledged before the backup started is there exactly
once, and a node on the restored instance accepts a session made before the backup
(its secrets came back with it)."""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.support import (
    ChatClient,
    RunningServer,
    department_channel,
    dev_token,
    drop_postgres_database,
    in_own_thread,
    post,
    run_tsunagu,
    sql,
)
from tests.support.people import NAKAMURA, SUZUKI, TAKAHASHI, WATANABE

SENDERS = (SUZUKI, TAKAHASHI, WATANABE, NAKAMURA)
# Sends before the backup starts, so the archive surely holds some under load.
WARM_UP_ACKS = 40


def the_archive(folder: Path) -> Path:
    [archive] = list(folder.glob("tsunagu-backup-*.tar"))
    return archive


def destroy(server: RunningServer, backend: str) -> None:
    """What a lost machine loses: the database and the data folder (secrets, exports)."""
    if backend == "sqlite":
        database = Path(server.settings.database_url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    else:
        url = server.settings.database_url
        in_own_thread(lambda: drop_postgres_database(url))
    shutil.rmtree(server.settings.var_dir)


def table_names(server: RunningServer) -> set[str]:
    if server.settings.database_url.startswith("sqlite"):
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return {str(row[0]) for row in sql(server, query)}


def client_id_counts(server: RunningServer) -> Counter[str]:
    return Counter(str(row[0]) for row in sql(
        server, "SELECT client_id FROM messages WHERE client_id IS NOT NULL"))


async def backup(server: RunningServer, out: Path,
                 env: dict[str, str] | None = None) -> Path:
    result = await run_tsunagu(server, "backup", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "backup written" in result.stdout and "sha256" in result.stdout
    archive = the_archive(out)
    assert archive.stat().st_mode & 0o777 == 0o600
    return archive


async def test_a_backup_under_load_restores_every_acknowledged_message(
        make_server: object, backend: str, tmp_path: Path) -> None:
    # The node signs a checkpoint every 0.2 s and appends it to the anchor file, so
    # anchors are written while the backup runs (it copies the file before the database).
    anchors = tmp_path / "anchors" / "anchors.jsonl"
    anchors.parent.mkdir()
    anchored = {"CHAT_AUDIT_ANCHOR_FILE": str(anchors)}
    server: RunningServer = make_server(  # type: ignore[operator]
        send_rate_per_second=1000.0, send_burst=1000, audit_anchor_file=anchors,
        audit_checkpoint_seconds=0.2)
    tokens = {person: await dev_token(server, person) for person in SENDERS}
    clients = [await ChatClient.connect(server, tokens[person]) for person in SENDERS]
    acked: list[str] = []
    warmed_up = asyncio.Event()
    stop = asyncio.Event()

    async def send_until_stopped(client: ChatClient) -> None:
        channel = await department_channel(client)
        while not stop.is_set():
            ack = await client.send_message(channel, f"負荷 {len(acked)}",
                                            client_id=uuid.uuid4().hex)
            assert ack["duplicate"] is False
            acked.append(ack["client_id"])
            if len(acked) >= WARM_UP_ACKS:
                warmed_up.set()

    # An auditor's finished export is a file under CHAT_VAR_DIR/exports.
    export = server.settings.var_dir / "exports" / "1" / "messages.jsonl"
    export.parent.mkdir(parents=True)
    export.write_text('{"message_id": 1}\n')
    senders = [asyncio.create_task(send_until_stopped(c)) for c in clients]
    await asyncio.wait_for(warmed_up.wait(), 10)
    acked_before_backup = set(acked)
    archive = await backup(server, tmp_path / "backups", anchored)
    sent_during_backup = len(acked) - len(acked_before_backup)
    stop.set()
    await asyncio.gather(*senders)
    for client in clients:
        await client.close()
    server.stop()
    assert sent_during_backup > 0, "the load did not go on while the backup ran"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[-1] == "manifest.json" and "var/secrets.json" in names
    assert "var/exports/1/messages.jsonl" in names

    assert "anchor/anchors.jsonl" in names
    destroy(server, backend)
    anchors.unlink()                          # on the lost machine too
    restored = await run_tsunagu(server, "restore", str(archive), env=anchored)
    assert restored.returncode == 0, restored.stderr
    assert "audit log intact" in restored.stderr
    assert anchors.exists()
    assert "the instance is ready" in restored.stdout
    secrets = server.settings.var_dir / "secrets.json"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert export.read_text() == '{"message_id": 1}\n'

    verified = await run_tsunagu(server, "audit", "verify", env=anchored)
    assert verified.returncode == 0, verified.stderr
    assert " 0 anchors" not in verified.stdout, verified.stdout
    counts = client_id_counts(server)
    assert all(counts[client_id] == 1 for client_id in acked_before_backup), (
        "a message acknowledged before the backup is missing")
    assert max(counts.values()) == 1
    restored_events = sql(server, "SELECT detail FROM audit_events "
                                  "WHERE action = 'backup.restored'")
    assert len(restored_events) == 1 and archive.name in restored_events[0][0]

    # A node on the restored instance takes a session made before the backup (its
    # digest is keyed by the restored secrets) and serves a send.
    node: RunningServer = make_server(  # type: ignore[operator]
        send_rate_per_second=1000.0, send_burst=1000, audit_anchor_file=anchors)
    client = await ChatClient.connect(node, tokens[SUZUKI])
    ack = await client.send_message(await department_channel(client), "復元後の送信")
    assert ack["duplicate"] is False


async def test_restore_refuses_a_tampered_archive_and_a_database_that_holds_data(
        make_server: object, backend: str, tmp_path: Path) -> None:
    server: RunningServer = make_server()  # type: ignore[operator]
    archive = await backup(server, tmp_path / "backups")
    await post(server, SUZUKI, ["バックアップの後"])
    # The node wrote its heartbeat at start-up (chat/app.py), before serving.
    assert sql(server, "SELECT count(*) FROM system_settings WHERE key LIKE 'node:%'")[0][0]
    under_a_node = await run_tsunagu(server, "restore", "--force", str(archive))
    assert under_a_node.returncode == 1
    assert "stop every node" in under_a_node.stderr.strip().splitlines()[-1]
    server.stop()

    tampered = tmp_path / "tampered.tar"
    shutil.copyfile(archive, tampered)
    with tarfile.open(tampered) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("database/"))
    with tampered.open("r+b") as fh:        # one byte of the database, changed
        fh.seek(member.offset_data + member.size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    refused = await run_tsunagu(server, "restore", "--force", str(tampered))
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert "checksum mismatch" in line and member.name in line

    refused = await run_tsunagu(server, "restore", str(archive))
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert "refusing to overwrite" in line and "--force" in line
    assert "messages" in line and "destroy" in line
    assert "Traceback" not in refused.stderr
    after_backup = "SELECT count(*) FROM messages WHERE body = 'バックアップの後'"
    assert sql(server, after_backup)[0][0] == 1     # neither refusal touched it

    # As if a newer release had migrated it: a table the backup does not have.
    sql(server, "CREATE TABLE added_by_a_newer_release (id integer)")
    forced = await run_tsunagu(server, "restore", "--force", str(archive))
    assert forced.returncode == 0, forced.stderr
    assert "audit log intact" in forced.stderr
    assert sql(server, after_backup)[0][0] == 0
    tables = await asyncio.to_thread(table_names, server)
    assert "added_by_a_newer_release" not in tables and "messages" in tables

    # The files alone (after PostgreSQL's point-in-time recovery): other keys in place
    # are replaced only with --force.
    secrets = server.settings.var_dir / "secrets.json"
    backed_up = secrets.read_bytes()
    secrets.write_text('{"session_key": "b3RoZXI="}')
    refused = await run_tsunagu(server, "restore", "--files-only", str(archive))
    assert refused.returncode == 1
    assert "refusing to replace" in refused.stderr.strip().splitlines()[-1]
    files = await run_tsunagu(server, "restore", "--files-only", "--force", str(archive))
    assert files.returncode == 0, files.stderr
    assert secrets.read_bytes() == backed_up


async def test_a_backup_without_pg_dump_says_so_in_one_line(
        make_server: object, backend: str, tmp_path: Path) -> None:
    if backend != "postgres":
        pytest.skip("pg_dump is PostgreSQL's")
    server: RunningServer = make_server(seed=False)  # type: ignore[operator]
    out = tmp_path / "backups"
    result = await run_tsunagu(server, "backup", "--out", str(out),
                               env={"PATH": str(tmp_path / "nothing-here")})
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("tsunagu backup: pg_dump not found on PATH")
    assert "Traceback" not in result.stderr
    assert list(out.iterdir()) == []        # no partial archive left behind

