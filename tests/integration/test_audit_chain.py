"""The tamper-evident audit log on a real server and database: the hash chain, signed
checkpoints and `tsunagu audit verify`, against direct edits to the database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chat.store.uow import TxMode
from tests.conftest import ServerFactory
from tests.support import (
    ChatClient,
    RunningServer,
    beside,
    dev_token,
    in_own_thread,
    run_tsunagu,
    sql,
    verify,
)
from tests.support.people import NAKAMURA, SUZUKI, TAKAHASHI, TANAKA, WATANABE, YAMAMOTO


async def some_history(server: RunningServer) -> int:
    """Messages sent, one edited, one deleted; returns the department channel used."""
    client = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    assert client.ready is not None
    channel_id = next(c["id"] for c in client.ready["channels"] if c["kind"] == "department")
    acks = [await client.send_message(channel_id, f"防災訓練の連絡 {i}") for i in range(5)]
    await client.send({"type": "edit", "message_id": acks[1]["message"]["id"],
                       "body": "防災訓練は中止"})
    await client.expect("ok")
    await client.send({"type": "delete", "message_id": acks[2]["message"]["id"]})
    await client.expect("ok")
    return channel_id


async def test_an_untouched_log_verifies_and_covers_every_revision(server: RunningServer
                                                                   ) -> None:
    await some_history(server)
    code, output = await verify(server)
    assert code == 0, output
    assert "audit log intact" in output
    revisions = sql(server, "SELECT count(*) FROM message_revisions")[0][0]
    assert f"{revisions} message revisions checked" in output
    actions = {row[0] for row in sql(server, "SELECT action FROM audit_events")}
    assert {"message.created", "message.edited", "message.deleted"} <= actions
    seqs = [row[0] for row in sql(server, "SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_message_text_changed_in_the_database_is_caught(server: RunningServer
                                                                ) -> None:
    await some_history(server)
    sql(server, "UPDATE messages SET body = '改ざんされた本文' WHERE id = "
                "(SELECT max(id) FROM messages WHERE deleted_at IS NULL)")
    code, output = await verify(server)
    assert code == 1
    assert "current text differs" in output


async def test_a_revision_changed_in_the_database_is_caught(server: RunningServer) -> None:
    await some_history(server)
    sql(server, "UPDATE message_revisions SET body = '別の文' WHERE action = 'edit'")
    code, output = await verify(server)
    assert code == 1 and "differs from what the audit log recorded" in output


async def test_a_deleted_audit_entry_is_caught_and_named(server: RunningServer) -> None:
    await some_history(server)
    sql(server, "DELETE FROM audit_events WHERE seq = 3")
    code, output = await verify(server)
    assert code == 1
    assert "entry 3 is missing" in output


async def test_two_swapped_entries_are_caught(server: RunningServer) -> None:
    await some_history(server)
    rows = sql(server, "SELECT id, seq FROM audit_events ORDER BY seq LIMIT 2 OFFSET 3")
    (first_id, first_seq), (second_id, second_seq) = rows
    # Swap their positions (seq) through a temporary value, as an intruder would.
    sql(server, "UPDATE audit_events SET seq = -1 WHERE id = :i", i=first_id)
    sql(server, "UPDATE audit_events SET seq = :s WHERE id = :i", s=first_seq, i=second_id)
    sql(server, "UPDATE audit_events SET seq = :s WHERE id = :i", s=second_seq, i=first_id)
    code, output = await verify(server)
    assert code == 1
    assert f"entry {first_seq}" in output and "reordered or rewritten" in output


async def test_an_altered_entry_is_caught_even_with_its_own_hash_recomputed(
        server: RunningServer) -> None:
    await some_history(server)
    sql(server, "UPDATE audit_events SET actor_user_id = 999 WHERE seq = 2")
    code, output = await verify(server)
    assert code == 1 and "entry 2" in output and "altered" in output
    # The intruder recomputes the altered entry's own hash: the next entry no longer
    # follows it.
    from chat.domain.auditchain import EntryContent, entry_hash

    row = sql(server, "SELECT seq, occurred_at, action, outcome, actor_user_id, "
                      "subject_user_id, device_id, session_id, remote_addr, detail, prev_hash "
                      "FROM audit_events WHERE seq = 2")[0]
    occurred_at = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(row[1])
    forged = entry_hash(row[10], EntryContent(
        seq=2, occurred_at=occurred_at.replace(tzinfo=occurred_at.tzinfo or UTC),
        action=row[2], outcome=row[3], actor_user_id=row[4], subject_user_id=row[5],
        device_id=row[6], session_id=row[7], remote_addr=row[8], detail=row[9]))
    sql(server, "UPDATE audit_events SET hash = :h WHERE seq = 2", h=forged)
    code, output = await verify(server)
    assert code == 1
    assert "entry 3" in output and "does not follow entry 2" in output


async def test_entries_cut_from_the_end_are_caught_by_the_signed_checkpoint(
        server: RunningServer, tmp_path: Path) -> None:
    await some_history(server)
    signed = await run_tsunagu(server, "audit", "checkpoint")
    assert signed.returncode == 0 and "signed checkpoint at entry" in signed.stdout
    again = await run_tsunagu(server, "audit", "checkpoint")
    assert "nothing new to sign" in again.stdout
    last = sql(server, "SELECT max(seq) FROM audit_events")[0][0]
    # The checkpoint signed the head, then appended its own audit.checkpointed entry.
    signed_seq = sql(server, "SELECT max(seq) FROM audit_checkpoints")[0][0]
    assert signed_seq == last - 1
    # The intruder removes the last two entries and rewinds the head to match.
    sql(server, "DELETE FROM audit_events WHERE seq > :s", s=last - 2)
    head = sql(server, "SELECT hash FROM audit_events WHERE seq = :s", s=last - 2)[0][0]
    sql(server, "UPDATE audit_head SET seq = :s, hash = :h", s=last - 2, h=head)
    # Message revisions those entries covered are unaccounted for as well; here the
    # checkpoint alone proves it: it was signed at a seq the log no longer reaches.
    code, output = await verify(server)
    assert code == 1
    assert f"checkpoint at entry {signed_seq} is beyond the end of the log" in output


async def test_checkpoints_verify_with_the_exported_public_key_only(
        server: RunningServer, tmp_path: Path) -> None:
    await some_history(server)
    assert (await run_tsunagu(server, "audit", "checkpoint")).returncode == 0
    exported = await run_tsunagu(server, "audit", "public-key")
    assert exported.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    key_file = tmp_path / "audit.pub"
    key_file.write_text(exported.stdout)
    code, output = await verify(server, "--public-key", str(key_file))
    assert code == 0, output
    assert "1 signed checkpoints" in output
    # Another instance's key does not vouch for these checkpoints.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from chat.domain.auditchain import public_pem

    other = tmp_path / "other.pub"
    other.write_text(public_pem(Ed25519PrivateKey.generate().public_key()))
    code, output = await verify(server, "--public-key", str(other))
    assert code == 1 and "bad signature" in output
    # A forged checkpoint signature in the database.
    sql(server, "UPDATE audit_checkpoints SET signature = 'AAAA'")
    code, output = await verify(server)
    assert code == 1 and "bad signature" in output


async def test_concurrent_writers_on_every_node_extend_one_chain(
        make_server: ServerFactory) -> None:
    """Many connections on two nodes (one database) post at once: one gapless chain."""
    nodes = [make_server(), make_server()]
    clients = []
    for index, staff in enumerate([SUZUKI, TAKAHASHI, TANAKA, WATANABE, YAMAMOTO, NAKAMURA]):
        node = nodes[index % 2]
        clients.append(await ChatClient.connect(node, await dev_token(node, staff)))
    # Everyone is in 全庁連絡 (read-only for staff); post in each person's department.
    channels = [next(c["id"] for c in client.ready["channels"]  # type: ignore[index]
                     if c["kind"] == "department") for client in clients]

    async def burst(client: ChatClient, channel_id: int) -> None:
        for _ in range(10):
            await client.send_message(channel_id, f"同時送信 {uuid.uuid4().hex[:6]}")

    await asyncio.gather(*(burst(c, ch) for c, ch in zip(clients, channels, strict=True)))
    seqs = [row[0] for row in sql(nodes[0], "SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    created = sql(nodes[0], "SELECT count(*) FROM audit_events "
                            "WHERE action = 'message.created'")[0][0]
    assert created >= 60
    code, output = await verify(nodes[0])
    assert code == 0, output


async def test_verify_sees_one_consistent_state_while_others_write(server: RunningServer
                                                                   ) -> None:
    """Entries and messages committed in the middle of a verify run are not half-seen:
    without one snapshot (REPEATABLE READ on PostgreSQL) the walk would find entries
    past the head it read first and report the log as cut."""
    from chat.actions.audit import verify_log
    from chat.actions.messages import send_message
    from chat.context import open_context
    from chat.demo import _principals

    async def write(count: int, tag: str) -> None:
        async with open_context(beside(server.settings)) as ctx:
            suzuki = (await _principals(ctx))[SUZUKI]
            channel = await first_channel(ctx, suzuki.user_id)
            for i in range(count):
                await send_message(ctx, actor=suzuki, channel_id=channel,
                                   client_id=f"{tag}-{i}", body=f"検証中の書き込み {i}")

    in_own_thread(lambda: asyncio.run(write(1200, "before")))
    interleaved = []

    def progress(done: int, total: int) -> None:
        # Mid-walk: another writer commits (in its own thread and connection).
        if not interleaved and done < total:
            in_own_thread(lambda: asyncio.run(write(5, "during")))
            interleaved.append(done)

    async def run_verify() -> Any:
        async with open_context(beside(server.settings)) as ctx:
            return await verify_log(ctx, progress=progress)

    report = in_own_thread(lambda: asyncio.run(run_verify()))
    assert interleaved, "the writer never ran mid-walk"
    assert report.ok, report.problems
    code, output = await verify(server)
    assert code == 0, output


async def first_channel(ctx: Any, user_id: int) -> int:
    from chat.store.uow import unit_of_work

    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return int(sorted(await uow.channels.channel_ids_of(user_id))[0])
