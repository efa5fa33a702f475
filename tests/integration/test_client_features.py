"""The smartphone client's server side on a real server: replies, mentions, stamps,
pins, confirmations with the readers list, mute, and photos (EXIF stripped, GPS only
when shared, members only)."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from typing import Any

import httpx
from PIL import ExifTags, Image

from tests.conftest import ServerFactory
from tests.support import (
    FRAME_TIMEOUT,
    ChatClient,
    RunningServer,
    auth_headers,
    dev_token,
    sql,
    verify,
)
from tests.support.people import ITO, SATO, SUZUKI, TANAKA, WATANABE

GROUP = "忘年会幹事"  # SUZUKI, TANAKA, WATANABE
ALL_STAFF = "全庁連絡"


async def connect(server: RunningServer, staff: str) -> ChatClient:
    return await ChatClient.connect(server, await dev_token(server, staff))


def channel_named(client: ChatClient, name: str) -> dict[str, Any]:
    assert client.ready is not None
    return next(c for c in client.ready["channels"] if c["name"] == name)


def user_id(client: ChatClient) -> int:
    assert client.ready is not None
    return int(client.ready["user"]["id"])


async def command(client: ChatClient, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a frame with a fresh ref; its reply (ack, ok or error), events kept aside."""
    ref = uuid.uuid4().hex[:8]
    await client.send({**frame, "ref": ref})
    while True:
        reply = await client._recv(FRAME_TIMEOUT)
        if reply.get("ref") == ref:
            return reply
        client.backlog.append(reply)


async def send(client: ChatClient, channel_id: int, body: str, **extra: Any) -> dict[str, Any]:
    reply = await command(client, {"type": "send", "channel_id": channel_id,
                                   "client_id": uuid.uuid4().hex, "body": body, **extra})
    assert reply["type"] == "ack", reply
    return dict(reply["message"])


async def http(server: RunningServer, token: str, method: str, path: str,
               **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        headers = {**auth_headers(token), **kwargs.pop("headers", {})}
        return await client.request(method, path, headers=headers, **kwargs)


# --- replies and mentions ----------------------------------------------------------------

async def test_a_reply_quotes_a_live_message_of_the_same_channel(server: RunningServer
                                                                 ) -> None:
    suzuki, tanaka = await connect(server, SUZUKI), await connect(server, TANAKA)
    group = channel_named(suzuki, GROUP)["id"]
    original = await send(suzuki, group, "会場は駅前の居酒屋でどうですか。" * 8)
    reply = await send(tanaka, group, "賛成です", reply_to=original["id"])
    quote = reply["reply_to"]
    assert quote["id"] == original["id"] and quote["sender_id"] == user_id(suzuki)
    assert len(quote["excerpt"]) == 80 and quote["excerpt"].startswith("会場は駅前")
    seen = await suzuki.expect("message", lambda f: f["message"]["id"] == reply["id"])
    assert seen["message"]["reply_to"] == quote

    # Deleting the quoted message empties the excerpt wherever the reply is shown.
    assert (await command(suzuki, {"type": "delete", "message_id": original["id"]}))["type"] \
        == "ok"
    token = await dev_token(server, TANAKA)
    page = (await http(server, token, "GET", f"/api/channels/{group}/messages")).json()
    shown = next(m for m in page["messages"] if m["id"] == reply["id"])
    assert shown["reply_to"] == {"id": original["id"], "sender_id": user_id(suzuki),
                                 "excerpt": ""}
    refused = await command(tanaka, {"type": "send", "channel_id": group, "client_id": "r2",
                                     "body": "え？", "reply_to": original["id"]})
    assert refused["code"] == "message_deleted"
    # A message of another channel cannot be quoted.
    assert tanaka.ready is not None
    dept = next(c["id"] for c in tanaka.ready["channels"] if c["kind"] == "department")
    elsewhere = await send(tanaka, dept, "別のチャンネル")
    refused = await command(tanaka, {"type": "send", "channel_id": group, "client_id": "r3",
                                     "body": "x", "reply_to": elsewhere["id"]})
    assert refused["code"] == "message_not_found"


async def test_mentions_keep_members_and_reach_each_one_on_every_device(
        server: RunningServer) -> None:
    suzuki, tanaka = await connect(server, SUZUKI), await connect(server, TANAKA)
    tanaka_phone, watanabe = await connect(server, TANAKA), await connect(server, WATANABE)
    ito = await connect(server, ITO)
    group = channel_named(suzuki, GROUP)["id"]
    message = await send(suzuki, group, "@田中 さん、資料お願いします",
                         mentions=[user_id(tanaka), user_id(ito), user_id(suzuki),
                                   user_id(tanaka)])
    # Non-members and the sender are dropped; each member once.
    assert message["mentions"] == [user_id(tanaka)]
    for device in (tanaka, tanaka_phone):
        mention = await device.expect("mention")
        assert mention["message"]["id"] == message["id"]
        await device.expect("message", lambda f: f["message"]["id"] == message["id"])
    await watanabe.expect("message", lambda f: f["message"]["id"] == message["id"])
    await watanabe.expect_nothing("mention")
    await ito.expect_nothing("mention")

    too_many = await command(suzuki, {"type": "send", "channel_id": group, "client_id": "m",
                                      "body": "x", "mentions": list(range(1, 52))})
    assert too_many["code"] == "invalid_frame"
    bad = await command(suzuki, {"type": "send", "channel_id": group, "client_id": "m",
                                 "body": "x", "mentions": ["2"]})
    assert bad["code"] == "invalid_frame"


# --- stamps, pins, confirmations -----------------------------------------------------------

async def test_stamps_are_shared_with_every_member_and_idempotent(server: RunningServer
                                                                  ) -> None:
    suzuki, tanaka = await connect(server, SUZUKI), await connect(server, TANAKA)
    group = channel_named(suzuki, GROUP)["id"]
    message = await send(suzuki, group, "明日の集合は8時です")
    ok = await command(tanaka, {"type": "react", "message_id": message["id"], "emoji": "👍"})
    assert ok["type"] == "ok"
    assert ok["message"]["reactions"] == [{"emoji": "👍", "user_ids": [user_id(tanaka)]}]
    event = await suzuki.expect("reaction.updated")
    assert event == {"type": "reaction.updated", "channel_id": group,
                     "message_id": message["id"],
                     "reactions": [{"emoji": "👍", "user_ids": [user_id(tanaka)]}]}
    # Again: nothing changes, nobody is told.
    await command(tanaka, {"type": "react", "message_id": message["id"], "emoji": "👍"})
    await suzuki.expect_nothing("reaction.updated")
    await command(suzuki, {"type": "react", "message_id": message["id"], "emoji": "了解"})
    event = await tanaka.expect("reaction.updated", lambda f: len(f["reactions"]) == 2)
    assert [r["emoji"] for r in event["reactions"]] == ["👍", "了解"]
    refused = await command(tanaka, {"type": "react", "message_id": message["id"],
                                     "emoji": "🍺"})
    assert refused["code"] == "unknown_stamp"
    await command(tanaka, {"type": "unreact", "message_id": message["id"], "emoji": "👍"})
    event = await suzuki.expect("reaction.updated",
                                lambda f: f["reactions"] == [{"emoji": "了解",
                                                              "user_ids": [user_id(suzuki)]}])
    # History and resync show the stamps as they are now.
    await suzuki.send({"type": "resync", "channel_id": group, "after_seq": message["seq"] - 1})
    result = await suzuki.expect("resync.result")
    assert result["messages"][0]["reactions"] == event["reactions"]
    ito = await connect(server, ITO)
    refused = await command(ito, {"type": "react", "message_id": message["id"], "emoji": "👍"})
    assert refused["code"] == "not_a_member"


async def test_pins_are_listed_and_in_announcements_only_announcers_pin(
        server: RunningServer) -> None:
    suzuki, tanaka, sato = (await connect(server, SUZUKI), await connect(server, TANAKA),
                            await connect(server, SATO))
    group = channel_named(suzuki, GROUP)["id"]
    message = await send(suzuki, group, "幹事の連絡先一覧")
    ok = await command(tanaka, {"type": "pin", "message_id": message["id"]})
    assert ok["message"]["pinned_at"] is not None
    event = await suzuki.expect("pin.updated")
    assert event["message_id"] == message["id"] and event["pinned_by"] == user_id(tanaka)
    assert event["pinned_at"] == ok["message"]["pinned_at"]
    token = await dev_token(server, SUZUKI)
    pins = (await http(server, token, "GET", f"/api/channels/{group}/pins")).json()
    assert [m["id"] for m in pins["messages"]] == [message["id"]]

    announcement = channel_named(sato, ALL_STAFF)["id"]
    notice = await send(sato, announcement, "【全庁】停電のお知らせ")
    refused = await command(suzuki, {"type": "pin", "message_id": notice["id"]})
    assert refused["code"] == "read_only_channel"
    assert (await command(sato, {"type": "pin", "message_id": notice["id"]}))["type"] == "ok"

    # A deleted message leaves the pins; unpinning is announced with nulls.
    await command(suzuki, {"type": "delete", "message_id": message["id"]})
    pins = (await http(server, token, "GET", f"/api/channels/{group}/pins")).json()
    assert pins["messages"] == []
    await command(sato, {"type": "unpin", "message_id": notice["id"]})
    event = await suzuki.expect("pin.updated", lambda f: f["message_id"] == notice["id"]
                                and f["pinned_at"] is None)
    assert event["pinned_by"] is None


async def test_announcements_are_confirmed_and_the_sender_sees_who_read_them(
        server: RunningServer) -> None:
    sato, suzuki, tanaka = (await connect(server, SATO), await connect(server, SUZUKI),
                            await connect(server, TANAKA))
    announcement = channel_named(sato, ALL_STAFF)["id"]
    notice = await send(sato, announcement, "【全庁】健康診断の日程を確認してください")
    ok = await command(suzuki, {"type": "confirm", "message_id": notice["id"]})
    assert ok["type"] == "ok" and ok["confirmed_count"] == 1
    event = await sato.expect("confirm.updated")
    assert event == {"type": "confirm.updated", "channel_id": announcement,
                     "message_id": notice["id"], "confirmed_count": 1}
    again = await command(suzuki, {"type": "confirm", "message_id": notice["id"]})
    assert again["confirmed_count"] == 1
    await sato.expect_nothing("confirm.updated")
    await command(suzuki, {"type": "read", "channel_id": announcement, "seq": notice["seq"]})
    group = channel_named(suzuki, GROUP)["id"]
    plain = await send(suzuki, group, "普通の連絡")
    refused = await command(tanaka, {"type": "confirm", "message_id": plain["id"]})
    assert refused["code"] == "not_an_announcement"

    token = await dev_token(server, SATO)
    readers = (await http(server, token, "GET", f"/api/messages/{notice['id']}/readers")).json()
    read_ids = {r["user_id"] for r in readers["read"]}
    unread_ids = {r["user_id"] for r in readers["unread"]}
    assert user_id(suzuki) in read_ids and user_id(tanaka) in unread_ids
    assert user_id(sato) not in read_ids | unread_ids   # the sender is neither
    assert len(read_ids | unread_ids) == 11             # every other member of 全庁
    assert [(c["user_id"], c["name"]) for c in readers["confirmed"]] == [
        (user_id(suzuki), "鈴木 花子")]
    assert readers["confirmed"][0]["at"].endswith("Z")
    # Members only.
    outsider_group = (await http(server, await dev_token(server, ITO), "GET",
                                 f"/api/messages/{plain['id']}/readers"))
    assert outsider_group.status_code == 403
    assert "announcement.confirmed" in {r[0] for r in sql(
        server, "SELECT action FROM audit_events")}


async def test_mute_is_per_member_and_shown_in_the_channel_list(server: RunningServer
                                                                ) -> None:
    token = await dev_token(server, SUZUKI)
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, GROUP)
    assert group["muted"] is False
    response = await http(server, token, "PUT", f"/api/channels/{group['id']}/mute",
                          json={"muted": True})
    assert response.status_code == 200 and response.json() == {
        "channel_id": group["id"], "muted": True}
    listed = (await http(server, token, "GET", "/api/channels")).json()["channels"]
    assert next(c for c in listed if c["id"] == group["id"])["muted"] is True
    again = await connect(server, SUZUKI)
    assert channel_named(again, GROUP)["muted"] is True
    other = (await http(server, await dev_token(server, TANAKA), "GET",
                        "/api/channels")).json()["channels"]
    assert next(c for c in other if c["id"] == group["id"])["muted"] is False
    bad = await http(server, token, "PUT", f"/api/channels/{group['id']}/mute",
                     json={"muted": "yes"})
    assert bad.status_code == 400
    outsider = await http(server, await dev_token(server, ITO), "PUT",
                          f"/api/channels/{group['id']}/mute", json={"muted": True})
    assert outsider.status_code == 403


# --- photos ------------------------------------------------------------------------------

def phone_photo(*, size: tuple[int, int] = (4032, 3024), fmt: str = "JPEG") -> bytes:
    """A photo as a phone writes it: EXIF with the maker, the owner, an orientation and
    the place (35.6895 N, 139.6917 E)."""
    image = Image.new("RGB", size, (30, 120, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Artist] = "鈴木 花子"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (35.0, 41.0, 22.2),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (139.0, 41.0, 30.12)}
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


async def upload(server: RunningServer, token: str, channel_id: int, data: bytes, *,
                 content_type: str = "image/jpeg", share: bool = False) -> httpx.Response:
    return await http(server, token, "POST", f"/api/channels/{channel_id}/attachments",
                      content=data, headers={"Content-Type": content_type},
                      params={"share_location": "1"} if share else {})


async def test_a_photo_is_resized_stripped_of_metadata_and_shown_to_members_only(
        server: RunningServer) -> None:
    suzuki, tanaka = await connect(server, SUZUKI), await connect(server, TANAKA)
    token, tanaka_token = await dev_token(server, SUZUKI), await dev_token(server, TANAKA)
    ito_token = await dev_token(server, ITO)
    group = channel_named(suzuki, GROUP)["id"]

    response = await upload(server, token, group, phone_photo())
    assert response.status_code == 201, response.text
    attachment = response.json()["attachment"]
    # Turned upright (orientation 6) and fitted into 2048 px; the place was not shared.
    assert (attachment["width"], attachment["height"]) == (1536, 2048)
    assert attachment["content_type"] == "image/jpeg" and attachment["location"] is None
    assert attachment["url"] == f"/api/attachments/{attachment['id']}"

    # Before it is sent, only the uploader sees it.
    assert (await http(server, tanaka_token, "GET", attachment["url"])).status_code == 404
    message = await send(suzuki, group, "", attachment_id=attachment["id"])
    assert message["kind"] == "photo" and message["body"] == ""
    assert message["attachment"] == attachment
    seen = await tanaka.expect("message", lambda f: f["message"]["id"] == message["id"])
    assert seen["message"]["attachment"]["id"] == attachment["id"]

    full = await http(server, tanaka_token, "GET", attachment["url"])
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/jpeg"
    assert full.headers["x-content-type-options"] == "nosniff"
    assert "private" in full.headers["cache-control"]
    assert len(full.content) == attachment["bytes"]
    stored = Image.open(io.BytesIO(full.content))
    assert stored.size == (1536, 2048)
    assert dict(stored.getexif()) == {}
    assert not {"exif", "icc_profile", "xmp"} & set(stored.info)
    assert b"Apple" not in full.content and "鈴木".encode() not in full.content
    thumb = await http(server, tanaka_token, "GET", attachment["thumb_url"])
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) <= 320

    # The audit log holds the stored image's digest with the message.
    created = [json.loads(r[0]) for r in sql(
        server, "SELECT detail FROM audit_events WHERE action = 'message.created'")]
    entry = next(d for d in created if d["message_id"] == message["id"])
    assert entry["attachment_sha256"] == hashlib.sha256(full.content).hexdigest()
    code, output = await verify(server)
    assert code == 0, output

    # Members only; one upload, one message.
    assert (await http(server, ito_token, "GET", attachment["url"])).status_code == 403
    reused = await command(suzuki, {"type": "send", "channel_id": group, "client_id": "again",
                                    "body": "", "attachment_id": attachment["id"]})
    assert reused["code"] == "attachment_in_use"
    empty = await command(suzuki, {"type": "send", "channel_id": group, "client_id": "empty",
                                   "body": " "})
    assert empty["code"] == "bad_request"
    # Deleted with its message.
    await command(suzuki, {"type": "delete", "message_id": message["id"]})
    assert (await http(server, tanaka_token, "GET", attachment["url"])).status_code == 404


async def test_the_place_is_kept_only_when_shared_and_never_in_the_file(
        server: RunningServer) -> None:
    token = await dev_token(server, SUZUKI)
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, GROUP)["id"]
    response = await upload(server, token, group, phone_photo(size=(800, 600)), share=True)
    attachment = response.json()["attachment"]
    assert attachment["location"] == {"lat": 35.6895, "lon": 139.6917}
    image = await http(server, token, "GET", attachment["url"])
    assert dict(Image.open(io.BytesIO(image.content)).getexif()) == {}
    message = await send(suzuki, group, "現場の写真です", attachment_id=attachment["id"])
    assert message["attachment"]["location"] == {"lat": 35.6895, "lon": 139.6917}

    # No GPS in the file (browsers often strip it): the phone's position, when shared.
    plain = io.BytesIO()
    Image.new("RGB", (300, 200)).save(plain, "JPEG")
    where = {"lat": "34.702485", "lon": "135.495951"}
    shared = await http(server, token, "POST", f"/api/channels/{group}/attachments",
                        content=plain.getvalue(), headers={"Content-Type": "image/jpeg"},
                        params={"share_location": "1", **where})
    assert shared.json()["attachment"]["location"] == {"lat": 34.702485, "lon": 135.495951}
    private = await http(server, token, "POST", f"/api/channels/{group}/attachments",
                         content=plain.getvalue(), headers={"Content-Type": "image/jpeg"},
                         params=where)
    assert private.json()["attachment"]["location"] is None
    # The file's own GPS wins over the phone's position.
    exif = await http(server, token, "POST", f"/api/channels/{group}/attachments",
                      content=phone_photo(size=(80, 60)),
                      headers={"Content-Type": "image/jpeg"},
                      params={"share_location": "1", **where})
    assert exif.json()["attachment"]["location"] == {"lat": 35.6895, "lon": 139.6917}
    bad = await http(server, token, "POST", f"/api/channels/{group}/attachments",
                     content=plain.getvalue(), headers={"Content-Type": "image/jpeg"},
                     params={"share_location": "1", "lat": "95", "lon": "0"})
    assert bad.status_code == 400


async def test_uploads_that_are_not_acceptable_images_are_refused(
        make_server: ServerFactory) -> None:
    server = make_server(max_upload_bytes=200_000)
    token = await dev_token(server, SUZUKI)
    suzuki = await connect(server, SUZUKI)
    group = channel_named(suzuki, GROUP)["id"]

    too_big = await upload(server, token, group, b"\xff" * 300_000)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "body_too_large"
    not_image = await upload(server, token, group, b"%PDF-1.7 not an image")
    assert not_image.status_code == 400 and not_image.json()["error"]["code"] == "invalid_image"
    wrong_type = await upload(server, token, group, b"hello", content_type="text/plain")
    assert wrong_type.status_code == 415
    # A decompression bomb: a small PNG that claims 20000 × 20000 pixels.
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    assert len(bomb.getvalue()) < 200_000
    refused = await upload(server, token, group, bomb.getvalue(), content_type="image/png")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_image"
    # A PNG with transparency stays a PNG.
    clear = io.BytesIO()
    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(clear, "PNG")
    png = await upload(server, token, group, clear.getvalue(), content_type="image/png")
    assert png.json()["attachment"]["content_type"] == "image/png"
    ito_token = await dev_token(server, ITO)
    outsider = await upload(server, ito_token, group, clear.getvalue(),
                            content_type="image/png")
    assert outsider.status_code == 403
    # Staff cannot post photos in announcements either.
    announcement = channel_named(suzuki, ALL_STAFF)["id"]
    read_only = await upload(server, token, announcement, clear.getvalue(),
                             content_type="image/png")
    assert read_only.status_code == 403


async def test_a_resend_is_acknowledged_as_a_duplicate_even_when_it_would_now_be_refused(
        server: RunningServer) -> None:
    """The phone's outbox sends again after every reconnect. A photo message's upload is
    attached by then, and a quoted message may have been deleted meanwhile: the resend
    is still the stored message (duplicate), not an error, and nothing is stored twice."""
    suzuki = await connect(server, SUZUKI)
    token = await dev_token(server, SUZUKI)
    group = channel_named(suzuki, GROUP)["id"]
    photo_id = (await upload(server, token, group, phone_photo(size=(64, 48)))
                ).json()["attachment"]["id"]
    quoted = await send(suzuki, group, "引用される発言")
    frames = [{"type": "send", "channel_id": group, "client_id": uuid.uuid4().hex,
               "body": "写真です", "attachment_id": photo_id},
              {"type": "send", "channel_id": group, "client_id": uuid.uuid4().hex,
               "body": "返信です", "reply_to": quoted["id"]}]
    first = [await command(suzuki, frame) for frame in frames]
    assert [f["type"] for f in first] == ["ack", "ack"]
    assert not any(f["duplicate"] for f in first)
    assert (await command(suzuki, {"type": "delete", "message_id": quoted["id"]}))[
        "type"] == "ok"
    again = [await command(suzuki, frame) for frame in frames]
    assert [(f["type"], f["duplicate"]) for f in again] == [("ack", True), ("ack", True)]
    assert [f["message"]["id"] for f in again] == [f["message"]["id"] for f in first]
    bodies = [row[0] for row in sql(server, "SELECT body FROM messages WHERE channel_id = :c",
                                    c=group)]
    assert bodies.count("写真です") == 1 and bodies.count("返信です") == 1
