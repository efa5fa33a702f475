"""Concurrent sends share transactions (group commit) and still behave one by one: each
is stored once, refused on its own, numbered without gaps, audited on one chain, and
delivered in order — over real sockets, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

from PIL import Image

from chat.actions.attachments import upload_photo
from chat.actions.messages import SEND_QUEUE, SendOutcome, send_message
from chat.context import AppContext, open_context
from chat.demo import _principals
from chat.errors import AttachmentInUse, ChannelNotFound, ClientIdReused, NotAMember
from chat.store.search import sqlite_gram_match
from chat.store.uow import TxMode, unit_of_work
from tests.conftest import ServerFactory
from tests.support import ChatClient, RunningServer, beside, dev_token, run_tsunagu, sql
from tests.support.people import ITO, NAKAMURA, SUZUKI, TAKAHASHI, TANAKA, WATANABE, YAMAMOTO

SENDERS = [SUZUKI, TAKAHASHI, TANAKA, WATANABE, YAMAMOTO, NAKAMURA]


async def verified(server: RunningServer) -> None:
    """The audit log is one unbroken chain (the real CLI says so)."""
    result = await run_tsunagu(server, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr


async def channel_id_named(ctx: AppContext, user_id: int, name: str) -> int:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        for channel_id in await uow.channels.channel_ids_of(user_id):
            channel = await uow.channels.get(channel_id)
            if channel is not None and channel.name == name:
                return channel_id
    raise AssertionError(f"no channel {name}")


async def test_a_burst_from_many_connections_is_stored_once_each_without_gaps(
        server: RunningServer) -> None:
    clients = [await ChatClient.connect(server, await dev_token(server, staff))
               for staff in SENDERS for _ in range(2)]
    channels = [next(c["id"] for c in client.ready["channels"]  # type: ignore[index]
                     if c["kind"] == "department") for client in clients]
    per_client = 8

    async def burst(client: ChatClient, channel_id: int) -> list[dict[str, Any]]:
        # Every frame first, then the acks: each connection keeps several sends queued.
        ids = [f"burst-{uuid.uuid4().hex}" for _ in range(per_client)]
        for n, client_id in enumerate(ids):
            await client.send({"type": "send", "channel_id": channel_id,
                               "client_id": client_id, "body": f"一斉送信 {n}"})
        return [await client.expect("ack", lambda f, c=c: f["client_id"] == c)
                for c in ids]

    acks = await asyncio.gather(*(burst(c, ch) for c, ch in zip(clients, channels,
                                                                 strict=True)))
    sent = [ack["message"] for per in acks for ack in per]
    assert len(sent) == len(clients) * per_client
    assert not any(ack["duplicate"] for per in acks for ack in per)
    # One connection's messages keep the order they were sent in.
    for per in acks:
        seqs = [ack["message"]["seq"] for ack in per]
        assert seqs == sorted(seqs)
    for channel_id in set(channels):
        stored = [row[0] for row in sql(server, "SELECT seq FROM messages WHERE "
                                                "channel_id = :c ORDER BY seq", c=channel_id)]
        assert stored == list(range(1, len(stored) + 1))
        last_seq = sql(server, "SELECT last_seq FROM channels WHERE id = :c", c=channel_id)
        assert last_seq[0][0] == len(stored)
    client_ids = [m["client_id"] for m in sent]
    assert sql(server, "SELECT count(*) FROM messages WHERE client_id LIKE 'burst-%'"
               )[0][0] == len(set(client_ids)) == len(sent)
    if server.settings.database_url.startswith("sqlite"):
        # Each batch indexed its messages for search before it committed (alembic 0009;
        # the larger ones on the inline connection's worker thread).
        assert sql(server, "SELECT count(*) FROM messages_unindexed") == [(0,)]
        for table, match in (("messages_fts", '"一斉送信"'),
                             ("messages_grams", sqlite_gram_match("一斉"))):
            assert sql(server, f"SELECT count(*) FROM {table} WHERE {table} MATCH :q",
                       q=match) == [(len(sent),)], table
    # Every member saw its channel's messages in seq order, once each.
    for client, channel_id in zip(clients, channels, strict=True):
        expected = sorted(m["seq"] for m in sent if m["channel_id"] == channel_id)
        seen: list[int] = []
        while len(seen) < len(expected):
            frame = await client.expect(
                "message", lambda f, c=channel_id: f["message"]["channel_id"] == c)
            seen.append(frame["message"]["seq"])
        assert seen == expected
    await verified(server)


async def test_each_send_of_one_batch_is_answered_on_its_own(server: RunningServer) -> None:
    """Duplicates, refusals and photos sent in the same batch: each gets its own answer,
    the others are stored, and the batch is one transaction."""
    async with open_context(beside(server.settings)) as ctx:
        people = await _principals(ctx)
        suzuki, tanaka, ito = people[SUZUKI], people[TANAKA], people[ITO]
        group = await channel_id_named(ctx, suzuki.user_id, "忘年会幹事")
        section = await channel_id_named(ctx, suzuki.user_id, "庶務係")
        picture = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 80, 40)).save(picture, "JPEG")
        photo = await upload_photo(ctx, actor=suzuki, channel_id=group,
                                   data=picture.getvalue(), content_type="image/jpeg",
                                   share_location=False)
        before = sql(server, "SELECT last_seq FROM channels WHERE id = :c", c=group)[0][0]
        await send_message(ctx, actor=suzuki, channel_id=group, client_id="warm-up",
                           body="準備")     # the queue exists; count batches from here
        queue = ctx.group_commits[SEND_QUEUE]
        batches = queue.batches

        sends = [
            dict(actor=suzuki, channel_id=group, client_id="same", body="一通目"),
            dict(actor=suzuki, channel_id=group, client_id="same", body="一通目"),
            dict(actor=suzuki, channel_id=section, client_id="same", body="別の部屋"),
            dict(actor=ito, channel_id=group, client_id="outsider", body="入れて"),
            dict(actor=suzuki, channel_id=999_999, client_id="nowhere", body="どこ"),
            dict(actor=tanaka, channel_id=group, client_id="tanaka-1", body="了解です"),
            dict(actor=suzuki, channel_id=group, client_id="photo-1", body="",
                 attachment_id=photo["id"]),
            dict(actor=suzuki, channel_id=group, client_id="photo-2", body="",
                 attachment_id=photo["id"]),
        ]
        results: list[Any] = await asyncio.gather(
            *(send_message(ctx, **send) for send in sends), return_exceptions=True)

        assert queue.batches == batches + 1, "the eight sends were not one batch"
        first, again, elsewhere, outsider, nowhere, tanakas, photo_1, photo_2 = results
        assert isinstance(first, SendOutcome) and first.duplicate is False
        assert isinstance(again, SendOutcome) and again.duplicate is True
        assert again.message == first.message
        assert isinstance(elsewhere, ClientIdReused)
        assert isinstance(outsider, NotAMember)
        assert isinstance(nowhere, ChannelNotFound)
        assert isinstance(tanakas, SendOutcome) and tanakas.duplicate is False
        assert isinstance(photo_1, SendOutcome)
        assert photo_1.message["attachment"]["id"] == photo["id"]
        assert isinstance(photo_2, AttachmentInUse)
        # Stored: warm-up, "same" once, tanaka's, one photo — numbered without gaps.
        rows = sql(server, "SELECT seq, client_id FROM messages WHERE channel_id = :c "
                           "AND seq > :s ORDER BY seq", c=group, s=before)
        assert [r[1] for r in rows] == ["warm-up", "same", "tanaka-1", "photo-1"]
        assert [r[0] for r in rows] == list(range(before + 1, before + 5))
        assert sql(server, "SELECT message_id FROM attachments WHERE id = :a",
                   a=photo["id"])[0][0] == photo_1.message["id"]
        # Writing a message marks the channel read up to it, for each sender.
        positions = dict(sql(server, "SELECT user_id, last_read_seq FROM memberships "
                                     "WHERE channel_id = :c", c=group))
        assert positions[suzuki.user_id] == photo_1.message["seq"]
        assert positions[tanaka.user_id] == tanakas.message["seq"]
    await verified(server)


async def test_the_same_send_racing_on_two_nodes_is_stored_once(
        make_server: ServerFactory) -> None:
    """Two nodes batch on their own: the unique key decides, the loser answers with the
    stored message, and its batch mates are written regardless."""
    nodes = [make_server(), make_server()]
    token = await dev_token(nodes[0], SUZUKI)
    a = await ChatClient.connect(nodes[0], token)
    b = await ChatClient.connect(nodes[1], token)
    group = next(c["id"] for c in a.ready["channels"]  # type: ignore[index]
                 if c["name"] == "忘年会幹事")
    for round_ in range(5):
        client_id = f"race-{round_}-{uuid.uuid4().hex[:8]}"
        mates = [f"mate-{round_}-{side}-{uuid.uuid4().hex[:8]}" for side in "ab"]
        for client, mate in zip((a, b), mates, strict=True):
            await client.send({"type": "send", "channel_id": group, "client_id": mate,
                               "body": "同時"})
        acks = await asyncio.gather(
            a.send_message(group, "同時送信", client_id=client_id),
            b.send_message(group, "同時送信", client_id=client_id))
        assert acks[0]["message"]["id"] == acks[1]["message"]["id"]
        assert sorted(ack["duplicate"] for ack in acks) == [False, True]
        for client, mate in zip((a, b), mates, strict=True):
            ack = await client.expect("ack", lambda f, m=mate: f["client_id"] == m)
            assert ack["duplicate"] is False
        stored = sql(nodes[0], "SELECT count(*) FROM messages WHERE client_id IN "
                               "(:c, :m0, :m1)", c=client_id, m0=mates[0], m1=mates[1])
        assert stored[0][0] == 3
    seqs = [r[0] for r in sql(nodes[0], "SELECT seq FROM messages WHERE channel_id = :c "
                                        "ORDER BY seq", c=group)]
    assert seqs == list(range(1, len(seqs) + 1))
    await verified(nodes[0])
