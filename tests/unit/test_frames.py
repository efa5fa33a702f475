"""Server frames on the wire and their schema (chat/frames.py)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chat.frames import (
    SERVER_FRAMES,
    channel_json,
    encode,
    error_frame,
    message_json,
    validate_server_frame,
)
from chat.store.models import Channel, Message

MESSAGE: dict[str, Any] = {
    "id": 1, "channel_id": 7, "seq": 3, "version": 5, "sender_id": 42,
    "client_id": "c-1", "kind": "text", "body": "お疲れさまです", "revision": 1,
    "created_at": "2025-04-01T09:00:00Z", "edited_at": None, "deleted_at": None,
    "purged_at": None, "data": None, "reply_to": None, "mentions": [], "reactions": [],
    "pinned_at": None, "attachment": None,
}
PHOTO_MESSAGE: dict[str, Any] = {
    **MESSAGE, "kind": "photo", "body": "", "mentions": [43],
    "reply_to": {"id": 1, "sender_id": 43, "excerpt": "会議室の写真をください"},
    "reactions": [{"emoji": "👍", "user_ids": [42, 43]}, {"emoji": "了解", "user_ids": [44]}],
    "pinned_at": "2025-04-01T09:10:00Z",
    "attachment": {"id": 9, "content_type": "image/jpeg", "width": 2048, "height": 1536,
                   "bytes": 412345, "url": "/api/attachments/9",
                   "thumb_url": "/api/attachments/9/thumb",
                   "location": {"lat": 35.6895, "lon": 139.6917}},
}
SYSTEM_MESSAGE: dict[str, Any] = {**MESSAGE, "sender_id": None, "client_id": None,
                                  "kind": "system"}
CHANNEL: dict[str, Any] = {"id": 7, "kind": "department", "name": "総務課",
                           "department_id": 2, "last_seq": 3, "last_version": 5}

GOOD_FRAMES: dict[str, dict[str, Any]] = {
    "ready": {"type": "ready", "user": {"id": 42, "name": "山田", "role": "staff"},
              "channels": [{**CHANNEL, "last_read_seq": 2, "muted": False, "may_post": True}],
              "online_user_ids": [42],
              "call_presence": [{"user_id": 42, "status": "on_call"}],
              "heartbeat_seconds": 30.0, "disaster": None},
    "ack": {"type": "ack", "client_id": "c-1", "message": MESSAGE, "duplicate": False,
            "ref": "s1"},
    "message": {"type": "message", "message": MESSAGE},
    "message.updated": {"type": "message.updated",
                        "message": {**MESSAGE, "body": "", "revision": 2,
                                    "deleted_at": "2025-04-01T10:00:00Z"}},
    "resync.result": {"type": "resync.result", "channel_id": 7, "messages": [MESSAGE],
                      "updated": [SYSTEM_MESSAGE], "next_seq": 4, "next_version": 5,
                      "last_seq": 3,
                      "last_version": 5, "limited": False},
    "read": {"type": "read", "channel_id": 7, "user_id": 42, "seq": 3},
    "read.ok": {"type": "read.ok", "channel_id": 7, "seq": 3},
    "typing": {"type": "typing", "channel_id": 7, "user_id": 42},
    "presence": {"type": "presence", "user_id": 42, "status": "online"},
    "presence.batch": {"type": "presence.batch", "online": [3, 9], "offline": [4]},
    "call.presence": {"type": "call.presence", "user_id": 42, "status": "ringing"},
    "channel.joined": {"type": "channel.joined", "channel": CHANNEL},
    "channel.left": {"type": "channel.left", "channel_id": 7},
    "resync.required": {"type": "resync.required", "reason": "events may have been lost"},
    "ok": {"type": "ok", "message": MESSAGE},
    "pong": {"type": "pong", "ref": 1},
    "server.restarting": {"type": "server.restarting", "retry_after_ms": 500},
    "hello": {"type": "hello", "dpop_nonce": "AQAAAZrS-nonce"},
    "error": {"type": "error", "code": "not_a_member", "message": "No", "ref": "x"},
    "mention": {"type": "mention", "message": PHOTO_MESSAGE},
    "reaction.updated": {"type": "reaction.updated", "channel_id": 7, "message_id": 1,
                         "reactions": [{"emoji": "👍", "user_ids": [42]}]},
    "pin.updated": {"type": "pin.updated", "channel_id": 7, "message_id": 1,
                    "pinned_at": None, "pinned_by": None},
    "confirm.updated": {"type": "confirm.updated", "channel_id": 7, "message_id": 1,
                        "confirmed_count": 3},
    "broadcast.repeated": {"type": "broadcast.repeated", "channel_id": 7, "message_id": 1,
                           "repeat": 1, "message": PHOTO_MESSAGE},
    "disaster.changed": {"type": "disaster.changed", "ended": None, "disaster": {
        "id": 1, "name": "総合防災訓練", "drill": True, "title": "【訓練】総合防災訓練",
        "declared_at": "2026-12-07T01:00:00Z", "declared_by": "危機管理 太郎",
        "ended_at": None}},
    "rollcall.tally": {"type": "rollcall.tally", "tally": {
        "rollcall": {"id": 1}, "total": 2, "answered": 1, "counts": {}, "departments": [],
        "unanswered": []}},
}


def test_the_examples_cover_every_server_frame_type() -> None:
    assert set(GOOD_FRAMES) == set(SERVER_FRAMES)


@pytest.mark.parametrize("frame_type", sorted(GOOD_FRAMES))
def test_a_well_formed_frame_of_each_type_is_accepted(frame_type: str) -> None:
    validate_server_frame(copy.deepcopy(GOOD_FRAMES[frame_type]))


@pytest.mark.parametrize(("frame_type", "field"), [
    (frame_type, field)
    for frame_type, fields in sorted(SERVER_FRAMES.items())
    for field in sorted(fields)
])
def test_a_frame_missing_a_required_field_is_rejected(frame_type: str, field: str) -> None:
    frame = copy.deepcopy(GOOD_FRAMES[frame_type])
    del frame[field]
    with pytest.raises(ValueError, match=f"missing field '{field}'"):
        validate_server_frame(frame)


@pytest.mark.parametrize(("frame_type", "field", "value"), [
    ("read", "seq", "3"),
    ("read", "seq", True),       # a bool is not an integer on the wire
    ("read", "seq", 3.0),
    ("ack", "duplicate", 0),
    ("ack", "client_id", None),
    ("ready", "channels", {}),
    ("ready", "heartbeat_seconds", "30"),
    ("ready", "heartbeat_seconds", False),
    ("presence", "user_id", None),
    ("error", "code", 404),
    ("resync.result", "limited", "false"),
    ("channel.left", "channel_id", [7]),
    ("message", "message", "hello"),
])
def test_a_field_of_the_wrong_type_is_rejected(frame_type: str, field: str,
                                               value: Any) -> None:
    frame = copy.deepcopy(GOOD_FRAMES[frame_type])
    frame[field] = value
    with pytest.raises(ValueError, match="wrong type"):
        validate_server_frame(frame)


@pytest.mark.parametrize("frame", [
    {"type": "welcome"},
    {"type": "auth", "token": "t"},   # a client frame, not a server one
    {"type": "Message", "message": MESSAGE},
])
def test_an_unknown_frame_type_is_rejected(frame: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown server frame type"):
        validate_server_frame(frame)


@pytest.mark.parametrize("frame", [None, [], "pong", {"code": "x"}, {"type": 1}])
def test_something_that_is_not_a_frame_is_rejected(frame: Any) -> None:
    with pytest.raises(ValueError, match="not a frame"):
        validate_server_frame(frame)


@pytest.mark.parametrize("field", sorted(MESSAGE))
def test_an_embedded_message_missing_a_field_is_rejected(field: str) -> None:
    message = {k: v for k, v in MESSAGE.items() if k != field}
    with pytest.raises(ValueError, match=f"missing field '{field}'"):
        validate_server_frame({"type": "message", "message": message})


@pytest.mark.parametrize(("field", "value"), [
    ("id", "1"), ("seq", None), ("sender_id", "42"), ("body", None),
    ("created_at", None), ("edited_at", 0), ("revision", True),
])
def test_an_embedded_message_field_of_the_wrong_type_is_rejected(field: str,
                                                                 value: Any) -> None:
    with pytest.raises(ValueError, match="wrong type"):
        validate_server_frame({"type": "message", "message": {**MESSAGE, field: value}})


@pytest.mark.parametrize("key", ["messages", "updated"])
def test_each_message_of_a_resync_result_is_checked(key: str) -> None:
    frame = copy.deepcopy(GOOD_FRAMES["resync.result"])
    frame[key] = [MESSAGE, {**MESSAGE, "seq": "4"}]
    with pytest.raises(ValueError, match="'seq'"):
        validate_server_frame(frame)


def test_a_resync_result_item_that_is_not_an_object_is_rejected() -> None:
    frame = copy.deepcopy(GOOD_FRAMES["resync.result"])
    frame["messages"] = [1]
    with pytest.raises(ValueError, match="expected an object"):
        validate_server_frame(frame)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("reply_to", {"id": 1, "sender_id": 2}, "'excerpt'"),
    ("mentions", ["43"], "mentions"),
    ("mentions", [True], "mentions"),
    ("reactions", [{"emoji": "👍"}], "'user_ids'"),
    ("reactions", [{"emoji": "👍", "user_ids": ["42"]}], "user_ids"),
    ("attachment", {"id": 9}, "'content_type'"),
    ("attachment", {**PHOTO_MESSAGE["attachment"], "location": {"lat": "35"}}, "'lat'"),
    ("pinned_at", 0, "wrong type"),
])
def test_a_message_s_extras_are_checked(field: str, value: Any, match: str) -> None:
    validate_server_frame({"type": "message", "message": PHOTO_MESSAGE})
    with pytest.raises(ValueError, match=match):
        validate_server_frame({"type": "message", "message": {**PHOTO_MESSAGE, field: value}})


def test_reaction_updated_checks_each_stamp() -> None:
    with pytest.raises(ValueError, match="'user_ids'"):
        validate_server_frame({**GOOD_FRAMES["reaction.updated"], "reactions": [{"emoji": "👍"}]})


def test_ready_channels_must_carry_the_last_read_seq() -> None:
    frame = copy.deepcopy(GOOD_FRAMES["ready"])
    frame["channels"] = [CHANNEL]
    with pytest.raises(ValueError, match="last_read_seq"):
        validate_server_frame(frame)


def test_channel_joined_checks_the_channel_fields() -> None:
    with pytest.raises(ValueError, match="'last_version'"):
        validate_server_frame({"type": "channel.joined",
                               "channel": {**CHANNEL, "last_version": None}})


@pytest.mark.parametrize("status", ["away", "ONLINE", ""])
def test_presence_status_is_online_or_offline(status: str) -> None:
    with pytest.raises(ValueError, match="presence status"):
        validate_server_frame({"type": "presence", "user_id": 1, "status": status})
    validate_server_frame({"type": "presence", "user_id": 1, "status": "offline"})


# --- building frames ---------------------------------------------------------------------


def test_error_frame_carries_code_message_and_ref_only_when_given() -> None:
    assert error_frame("not_a_member", "No") == \
        {"type": "error", "code": "not_a_member", "message": "No"}
    assert error_frame("not_a_member", "No", 0) == \
        {"type": "error", "code": "not_a_member", "message": "No", "ref": 0}
    validate_server_frame(error_frame("x", "y", "r"))


def _message(**changes: Any) -> Message:
    fields: dict[str, Any] = {
        "id": 11, "channel_id": 7, "seq": 3, "version": 9, "sender_id": 42,
        "client_id": "c-1", "kind": "text", "body": "会議は15時からです", "revision": 2,
        "created_at": datetime(2025, 4, 1, 9, 0, tzinfo=UTC),
        "edited_at": datetime(2025, 4, 1, 9, 5, 30, tzinfo=UTC), "deleted_at": None,
    }
    return Message(**{**fields, **changes})


def test_message_json_puts_a_message_on_the_wire_with_utc_z_timestamps() -> None:
    wire = message_json(_message())
    assert wire == {
        "id": 11, "channel_id": 7, "seq": 3, "version": 9, "sender_id": 42,
        "client_id": "c-1", "kind": "text", "body": "会議は15時からです", "revision": 2,
        "created_at": "2025-04-01T09:00:00Z", "edited_at": "2025-04-01T09:05:30Z",
        "deleted_at": None, "purged_at": None, "data": None, "reply_to": None,
        "mentions": [], "reactions": [], "pinned_at": None, "attachment": None,
    }
    validate_server_frame({"type": "message", "message": wire})


def test_a_deleted_message_goes_on_the_wire_without_its_body() -> None:
    wire = message_json(_message(deleted_at=datetime(2025, 4, 2, tzinfo=UTC)))
    assert wire["body"] == ""
    assert wire["deleted_at"] == "2025-04-02T00:00:00Z"
    validate_server_frame({"type": "message.updated", "message": wire})


def test_a_purged_message_goes_on_the_wire_without_its_body() -> None:
    wire = message_json(_message(purged_at=datetime(2030, 4, 2, tzinfo=UTC)))
    assert wire["body"] == ""
    assert wire["purged_at"] == "2030-04-02T00:00:00Z"
    validate_server_frame({"type": "message", "message": wire})


def test_channel_json_puts_a_channel_on_the_wire() -> None:
    channel = Channel(id=7, kind="department", name="総務課", department_id=2, last_seq=3,
                      last_version=5)
    wire = channel_json(channel)
    assert wire == CHANNEL
    validate_server_frame({"type": "channel.joined", "channel": wire})


# --- encode ------------------------------------------------------------------------------


def test_encode_keeps_japanese_text_unescaped() -> None:
    text = encode({"type": "message", "message": {**MESSAGE, "body": "こんにちは、世界"}})
    assert "こんにちは、世界" in text
    assert "\\u" not in text


def test_encode_is_compact_and_round_trips() -> None:
    frame = GOOD_FRAMES["resync.result"]
    text = encode(frame)
    assert ", " not in text
    assert ": " not in text
    assert json.loads(text) == frame


def test_encode_escapes_what_json_requires() -> None:
    text = encode({"type": "error", "code": "x", "message": 'a "quote"\nand newline'})
    assert json.loads(text)["message"] == 'a "quote"\nand newline'
    assert "\n" not in text


def test_a_declared_disaster_must_carry_its_title_and_whether_it_is_a_drill() -> None:
    frame = copy.deepcopy(GOOD_FRAMES["disaster.changed"])
    validate_server_frame(frame)
    del frame["disaster"]["drill"]
    with pytest.raises(ValueError, match="drill"):
        validate_server_frame(frame)
    ready = {**copy.deepcopy(GOOD_FRAMES["ready"]), "disaster": {"id": 1}}
    with pytest.raises(ValueError, match="name"):
        validate_server_frame(ready)
