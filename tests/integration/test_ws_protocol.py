"""The websocket protocol against a real server: delivery, idempotency, resync, receipts,
typing, presence, edits and errors."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import ServerFactory
from tests.support import (
    ChatClient,
    RunningServer,
    StalledClient,
    auth_headers,
    dev_token,
)
from tests.support.people import ITO, SATO, SUZUKI, TANAKA, WATANABE

SAKURA = WATANABE  # SUZUKI, TANAKA and 渡辺 さくら: the members of 忘年会幹事 (ITO is not)


def channel_named(client: ChatClient, name: str) -> dict[str, Any]:
    assert client.ready is not None
    return next(c for c in client.ready["channels"] if c["name"] == name)


async def connect(server: RunningServer, staff_number: str) -> ChatClient:
    return await ChatClient.connect(server, await dev_token(server, staff_number))


async def history(server: RunningServer, token: str, channel_id: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        r = await http.get(f"/api/channels/{channel_id}/messages", params={"limit": 200},
                           headers=auth_headers(token))
        assert r.status_code == 200, r.text
        return r.json()


async def test_messages_cross_between_two_users_on_three_connections(
        server: RunningServer) -> None:
    suzuki_phone = await connect(server, SUZUKI)
    suzuki_pc = await connect(server, SUZUKI)
    tanaka = await connect(server, TANAKA)
    group = channel_named(suzuki_phone, "忘年会幹事")["id"]

    ack = await suzuki_phone.send_message(group, "会場は駅前でどうですか")
    assert ack["duplicate"] is False
    sent = ack["message"]
    assert sent["seq"] == channel_named(suzuki_phone, "忘年会幹事")["last_seq"] + 1
    for client in (suzuki_phone, suzuki_pc, tanaka):
        frame = await client.expect("message", lambda f: f["message"]["id"] == sent["id"])
        assert frame["message"]["body"] == "会場は駅前でどうですか"
        assert frame["message"]["seq"] == sent["seq"]

    reply = (await tanaka.send_message(group, "賛成です"))["message"]
    assert reply["seq"] == sent["seq"] + 1
    for client in (suzuki_phone, suzuki_pc, tanaka):
        await client.expect("message", lambda f: f["message"]["id"] == reply["id"])
    for client in (suzuki_phone, suzuki_pc, tanaka):
        await client.close()


async def test_non_members_do_not_receive_channel_messages(server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    ito = await connect(server, ITO)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    await suzuki.send_message(group, "内緒の相談")
    await ito.expect_nothing("message", within=0.5)


async def test_resend_after_lost_ack_stores_once_and_returns_the_same_ack(
        server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    first = await ChatClient.connect(server, token)
    group = channel_named(first, "忘年会幹事")["id"]
    before = await history(server, token, group)
    client_id = str(uuid.uuid4())
    await first.send({"type": "send", "channel_id": group, "client_id": client_id,
                      "body": "届いていますか"})
    await first.ws.close()   # the ack is lost with the connection

    second = await ChatClient.connect(server, token)
    ack1 = await second.send_message(group, "届いていますか", client_id=client_id)
    ack2 = await second.send_message(group, "届いていますか", client_id=client_id)
    assert ack1["duplicate"] is True and ack2["duplicate"] is True
    assert ack1["message"] == ack2["message"]
    after = await history(server, token, group)
    assert after["last_seq"] == before["last_seq"] + 1
    assert [m["client_id"] for m in after["messages"]].count(client_id) == 1


async def test_concurrent_resends_on_two_connections_store_once(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    a = await ChatClient.connect(server, token)
    b = await ChatClient.connect(server, token)
    group = channel_named(a, "忘年会幹事")["id"]
    client_id = str(uuid.uuid4())
    acks = await asyncio.gather(a.send_message(group, "同時送信", client_id=client_id),
                                b.send_message(group, "同時送信", client_id=client_id))
    assert acks[0]["message"]["id"] == acks[1]["message"]["id"]
    assert sorted(ack["duplicate"] for ack in acks) == [False, True]


async def test_client_id_reused_for_another_channel_is_refused(server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    section = channel_named(suzuki, "庶務係")["id"]
    await suzuki.send_message(group, "一通目", client_id="same-id")
    await suzuki.send({"type": "send", "channel_id": section, "client_id": "same-id",
                       "body": "二通目", "ref": "r1"})
    error = await suzuki.expect("error")
    assert (error["code"], error["ref"]) == ("client_id_reused", "r1")


async def test_resync_after_dropped_connection_returns_exactly_the_missed_messages(
        server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    tanaka_token = await dev_token(server, TANAKA)
    tanaka = await ChatClient.connect(server, tanaka_token)
    group = channel_named(tanaka, "忘年会幹事")
    last_seen = group["last_seq"]
    await tanaka.ws.close()

    sent = [(await suzuki.send_message(group["id"], f"連絡 {i}"))["message"] for i in range(5)]

    tanaka = await ChatClient.connect(server, tanaka_token)
    await tanaka.send({"type": "resync", "channel_id": group["id"], "after_seq": last_seen})
    result = await tanaka.expect("resync.result")
    assert [m["seq"] for m in result["messages"]] == [m["seq"] for m in sent]
    assert [m["seq"] for m in result["messages"]] == list(range(last_seen + 1, last_seen + 6))
    assert [m["body"] for m in result["messages"]] == [f"連絡 {i}" for i in range(5)]
    assert result["limited"] is False
    assert result["next_seq"] == result["last_seq"] == last_seen + 5


async def test_resync_pages_with_a_limit_and_no_gaps(server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    for i in range(5):
        await suzuki.send_message(group, f"{i}")
    seqs: list[int] = []
    after = 0
    while True:
        await suzuki.send({"type": "resync", "channel_id": group, "after_seq": after,
                           "limit": 2})
        page = await suzuki.expect("resync.result")
        seqs += [m["seq"] for m in page["messages"]]
        after = page["next_seq"]
        if not page["limited"]:
            break
        assert len(page["messages"]) == 2
    assert seqs == list(range(1, page["last_seq"] + 1))


async def test_resync_with_version_returns_edits_and_deletes_of_older_messages(
        server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    first = (await suzuki.send_message(group, "初版"))["message"]
    second = (await suzuki.send_message(group, "消す予定"))["message"]
    seen_seq, seen_version = second["seq"], second["version"]
    await suzuki.send({"type": "edit", "message_id": first["id"], "body": "改訂版"})
    await suzuki.expect("ok")
    await suzuki.send({"type": "delete", "message_id": second["id"]})
    await suzuki.expect("ok")
    await suzuki.send({"type": "resync", "channel_id": group, "after_seq": seen_seq,
                       "after_version": seen_version})
    result = await suzuki.expect("resync.result")
    assert result["messages"] == []
    updated = {m["id"]: m for m in result["updated"]}
    assert updated[first["id"]]["body"] == "改訂版"
    assert updated[first["id"]]["edited_at"] is not None
    assert updated[second["id"]]["deleted_at"] is not None
    assert updated[second["id"]]["body"] == ""


async def test_edits_and_deletes_are_delivered_live_and_every_revision_is_kept(
        server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    suzuki = await ChatClient.connect(server, token)
    tanaka = await connect(server, TANAKA)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    message = (await suzuki.send_message(group, "集合は18時"))["message"]
    await suzuki.send({"type": "edit", "message_id": message["id"], "body": "集合は18時半"})
    edited = await tanaka.expect("message.updated")
    assert (edited["message"]["body"], edited["message"]["revision"]) == ("集合は18時半", 2)
    await suzuki.send({"type": "delete", "message_id": message["id"]})
    deleted = await tanaka.expect("message.updated",
                                  lambda f: f["message"]["deleted_at"] is not None)
    assert deleted["message"]["body"] == ""
    assert deleted["message"]["version"] > edited["message"]["version"]

    async with httpx.AsyncClient(base_url=server.http_url) as http:
        r = await http.get(f"/api/messages/{message['id']}/revisions",
                           headers=auth_headers(token))
    assert [(r["action"], r["body"]) for r in r.json()["revisions"]] == [
        ("create", "集合は18時"), ("edit", "集合は18時半"), ("delete", "")]


async def test_only_the_author_may_edit(server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    tanaka = await connect(server, TANAKA)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    message = (await suzuki.send_message(group, "原文"))["message"]
    await tanaka.send({"type": "edit", "message_id": message["id"], "body": "改ざん"})
    assert (await tanaka.expect("error"))["code"] == "not_the_author"
    await suzuki.expect_nothing("message.updated")


async def test_read_receipts_count_other_members_who_have_read(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    suzuki = await ChatClient.connect(server, token)
    tanaka = await connect(server, TANAKA)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    message = (await suzuki.send_message(group, "既読つけてください"))["message"]
    assert (await history(server, token, group))["messages"][-1]["read_count"] == 0

    await tanaka.send({"type": "read", "channel_id": group, "seq": message["seq"], "ref": 9})
    assert (await tanaka.expect("read.ok"))["ref"] == 9
    receipt = await suzuki.expect("read", lambda f: f["user_id"] == tanaka.ready["user"]["id"])
    assert (receipt["channel_id"], receipt["seq"]) == (group, message["seq"])
    assert (await history(server, token, group))["messages"][-1]["read_count"] == 1

    # Reading again, or an older seq, moves nothing and tells no one.
    await tanaka.send({"type": "read", "channel_id": group, "seq": message["seq"] - 1})
    await tanaka.expect("read.ok")
    await suzuki.expect_nothing("read")


async def test_read_beyond_the_last_seq_is_refused(server: RunningServer) -> None:
    tanaka = await connect(server, TANAKA)
    group = channel_named(tanaka, "忘年会幹事")
    await tanaka.send({"type": "read", "channel_id": group["id"],
                       "seq": group["last_seq"] + 10})
    assert (await tanaka.expect("error"))["code"] == "seq_out_of_range"


async def test_typing_reaches_the_other_members(server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    tanaka = await connect(server, TANAKA)
    ito = await connect(server, ITO)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    await suzuki.send({"type": "typing", "channel_id": group})
    frame = await tanaka.expect("typing")
    assert frame == {"type": "typing", "channel_id": group,
                     "user_id": suzuki.ready["user"]["id"]}
    await ito.expect_nothing("typing")
    await ito.send({"type": "typing", "channel_id": group})
    assert (await ito.expect("error"))["code"] == "not_a_member"


async def test_presence_goes_online_and_offline_with_the_last_connection(
        server: RunningServer) -> None:
    watcher = await connect(server, ITO)
    token = await dev_token(server, TANAKA)
    phone = await ChatClient.connect(server, token)
    tanaka_id = phone.ready["user"]["id"]
    await watcher.expect("presence", lambda f: f["user_id"] == tanaka_id
                         and f["status"] == "online")
    pc = await ChatClient.connect(server, token)
    assert tanaka_id in pc.ready["online_user_ids"]
    await phone.close()
    await watcher.expect_nothing("presence", lambda f: f["user_id"] == tanaka_id,
                                 within=0.4)   # still online on the PC
    await pc.close()
    await watcher.expect("presence", lambda f: f["user_id"] == tanaka_id
                         and f["status"] == "offline")


async def test_heartbeat_ping_is_answered_with_pong(server: RunningServer) -> None:
    client = await connect(server, SUZUKI)
    await client.send({"type": "ping", "ref": "hb"})
    assert await client.expect("pong") == {"type": "pong", "ref": "hb"}


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "code"), [
    ("{not json", "malformed_json"),
    ("[1, 2]", "invalid_frame"),
    ('{"type": "shout"}', "unknown_frame_type"),
    ('{"type": "send", "channel_id": "1", "client_id": "x", "body": "a"}', "invalid_frame"),
    ('{"type": "send", "channel_id": true, "client_id": "x", "body": "a"}', "invalid_frame"),
    ('{"type": "resync", "channel_id": 1, "after_seq": 0, "limit": 0}', "invalid_frame"),
])
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(
        server: RunningServer, raw: str, code: str) -> None:
    client = await connect(server, SUZUKI)
    await client.send_raw(raw)
    assert (await client.expect("error"))["code"] == code
    group = channel_named(client, "忘年会幹事")["id"]
    await client.send_message(group, "まだ使えます")


async def test_oversized_frame_is_refused_and_nothing_is_stored(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    client = await ChatClient.connect(server, token)
    group = channel_named(client, "忘年会幹事")
    body = "あ" * 30_000   # 30,000 characters, 90,000 bytes: over the 64 KiB frame limit
    await client.send({"type": "send", "channel_id": group["id"], "client_id": "big",
                       "body": body})
    assert (await client.expect("error"))["code"] == "frame_too_large"
    assert (await history(server, token, group["id"]))["last_seq"] == group["last_seq"]


async def test_frames_beyond_the_transport_limit_close_with_1009(server: RunningServer) -> None:
    client = await connect(server, SUZUKI)
    # The server may close before the client has finished writing the frame, so the
    # close can surface in the send as well as in the next read.
    with pytest.raises(ConnectionClosed) as closed:
        await client.send_raw("x" * (server.settings.transport_max_bytes + 1))
        await client.expect("error")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_sending_to_another_users_channel_is_refused_and_stores_nothing(
        server: RunningServer) -> None:
    token = await dev_token(server, ITO)
    ito = await ChatClient.connect(server, token)
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, "忘年会幹事")
    await ito.send({"type": "send", "channel_id": group["id"], "client_id": "intruder",
                    "body": "のぞき見", "ref": 1})
    error = await ito.expect("error")
    assert (error["code"], error["ref"]) == ("not_a_member", 1)
    await ito.send({"type": "resync", "channel_id": group["id"], "after_seq": 0})
    assert (await ito.expect("error"))["code"] == "not_a_member"
    await suzuki.expect_nothing("message")
    suzuki_token = await dev_token(server, SUZUKI)
    assert (await history(server, suzuki_token, group["id"]))["last_seq"] == group["last_seq"]


async def test_announcement_channel_is_read_only_for_staff(server: RunningServer) -> None:
    staff = await connect(server, SUZUKI)
    all_staff = channel_named(staff, "全庁連絡")
    await staff.send({"type": "send", "channel_id": all_staff["id"], "client_id": "a",
                      "body": "全員へ"})
    assert (await staff.expect("error"))["code"] == "read_only_channel"
    manager = await connect(server, SATO)
    ack = await manager.send_message(all_staff["id"], "本日は定時退庁日です")
    assert ack["message"]["seq"] == all_staff["last_seq"] + 1


async def test_resync_from_a_seq_that_does_not_exist_is_an_error(server: RunningServer) -> None:
    client = await connect(server, SUZUKI)
    group = channel_named(client, "忘年会幹事")
    await client.send({"type": "resync", "channel_id": group["id"],
                       "after_seq": group["last_seq"] + 1})
    assert (await client.expect("error"))["code"] == "seq_out_of_range"
    await client.send({"type": "resync", "channel_id": 999_999, "after_seq": 0})
    assert (await client.expect("error"))["code"] == "channel_not_found"


async def test_frames_before_auth_close_with_policy_violation(server: RunningServer) -> None:
    client = await ChatClient.connect(server)
    await client.send({"type": "send", "channel_id": 1, "client_id": "x", "body": "hi"})
    assert (await client.expect("error"))["code"] == "unauthenticated"
    await client.ws.wait_closed()
    assert client.ws.close_code == 1008


async def test_a_bad_token_closes_with_policy_violation(server: RunningServer) -> None:
    client = await ChatClient.connect(server)
    await client.send({"type": "auth", "token": "not-a-session"})
    assert (await client.expect("error"))["code"] == "unauthenticated"
    await client.ws.wait_closed()
    assert client.ws.close_code == 1008


async def test_binary_frames_are_refused(server: RunningServer) -> None:
    client = await connect(server, SUZUKI)
    await client.send_raw(b"\x00\x01")
    assert (await client.expect("error"))["code"] == "invalid_frame"


async def test_a_foreign_origin_is_refused_at_the_handshake(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(server.ws_url, origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    ok = await ChatClient.connect(server, origin=f"http://localhost:{server.port}")
    await ok.send({"type": "auth", "token": await dev_token(server, SUZUKI)})
    await ok.expect("ready")


async def test_flooding_is_rate_limited(make_server: ServerFactory) -> None:
    server = make_server(send_rate_per_second=1.0, send_burst=3)
    client = await connect(server, SUZUKI)
    group = channel_named(client, "忘年会幹事")["id"]
    for i in range(5):
        await client.send({"type": "send", "channel_id": group, "client_id": f"f{i}",
                           "body": "連投"})
    acks = [await client.expect("ack") for _ in range(3)]
    assert len({a["message"]["seq"] for a in acks}) == 3
    assert (await client.expect("error"))["code"] == "rate_limited"


async def test_a_client_that_never_reads_delays_nobody_and_is_closed_for_resync(
        make_server: ServerFactory) -> None:
    server = make_server(outgoing_queue_frames=8, send_rate_per_second=1000.0,
                         send_burst=1000)
    suzuki = await connect(server, SUZUKI)
    tanaka = await connect(server, TANAKA)
    stalled = await StalledClient.connect(server, await dev_token(server, SAKURA))
    try:
        group = channel_named(suzuki, "忘年会幹事")["id"]
        body = "大" * 10_000   # ~30 KB a frame: the stalled socket fills in a few
        loop = asyncio.get_running_loop()
        slowest = 0.0
        sent: list[int] = []
        for i in range(40):
            ack = await suzuki.send_message(group, body, client_id=f"stall-{i}")
            acked_at = loop.time()
            # The colleague who reads gets every message at once, before the next is
            # sent, however full the stalled phone's socket and backlog are.
            got = await tanaka.expect("message", timeout=2)
            slowest = max(slowest, loop.time() - acked_at)
            assert got["message"]["seq"] == ack["message"]["seq"]
            sent.append(ack["message"]["seq"])
        assert slowest < 1.0
        # The stalled phone's backlog overflowed: the server let it go (the others stay).
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            assert (await http.get("/healthz")).json()["connections"] == 2
        frames, code = await stalled.resume()
        assert code == 4001
        # What it did get is the start of the conversation, in order and without gaps.
        seqs = [f["message"]["seq"] for f in frames if f["type"] == "message"]
        assert 0 < len(seqs) < len(sent)
        assert seqs == sent[:len(seqs)]
    finally:
        stalled.abort()


async def test_a_new_group_reaches_connected_members_live(server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    suzuki = await ChatClient.connect(server, token)
    ito = await connect(server, ITO)
    ito_id = ito.ready["user"]["id"]
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        r = await http.post("/api/channels/group", headers=auth_headers(token),
                            content=json.dumps({"name": "防災訓練準備", "member_ids": [ito_id]}))
    assert r.status_code == 201, r.text
    channel_id = r.json()["id"]
    joined = await ito.expect("channel.joined")
    assert joined["channel"]["id"] == channel_id
    await suzuki.expect("channel.joined")
    await suzuki.send_message(channel_id, "よろしくお願いします")
    assert (await ito.expect("message"))["message"]["channel_id"] == channel_id


async def test_resync_pages_edits_with_next_version(server: RunningServer) -> None:
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, "忘年会幹事")["id"]
    first = (await suzuki.send_message(group, "一"))["message"]
    second = (await suzuki.send_message(group, "二"))["message"]
    for message, body in ((first, "壱"), (second, "弐")):
        await suzuki.send({"type": "edit", "message_id": message["id"], "body": body})
        await suzuki.expect("ok")
    seen: list[str] = []
    after_version = second["version"]
    while True:
        await suzuki.send({"type": "resync", "channel_id": group, "after_seq": second["seq"],
                           "after_version": after_version, "limit": 1})
        page = await suzuki.expect("resync.result")
        seen += [m["body"] for m in page["updated"]]
        after_version = page["next_version"]
        if not page["limited"]:
            break
    assert seen == ["壱", "弐"]
