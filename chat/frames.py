"""Server frames: how domain objects go on the wire, and the schema every frame obeys.

Frames are serialised once (``encode``) and the same text is queued to every recipient.
``docs/protocol.md`` shows an example of each frame; tests validate every frame they see
with :func:`validate_server_frame`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chat.store.models import Channel, Message
from chat.types import JSON


def encode(frame: JSON) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def message_json(message: Message) -> JSON:
    return {
        "id": message.id,
        "channel_id": message.channel_id,
        "seq": message.seq,
        "version": message.version,
        "sender_id": message.sender_id,
        "client_id": message.client_id,
        "kind": message.kind,
        # Deleted and purged (retention) messages carry no text.
        "body": "" if message.deleted_at or message.purged_at else message.body,
        "revision": message.revision,
        "created_at": _ts(message.created_at),
        "edited_at": _ts(message.edited_at),
        "deleted_at": _ts(message.deleted_at),
        "purged_at": _ts(message.purged_at),
        # A system notice's card (docs/pbx.md); None for people's messages, and gone
        # with the text when the message is deleted or purged.
        "data": (json.loads(message.data) if message.data and not
                 (message.deleted_at or message.purged_at) else None),
    }


def channel_json(channel: Channel) -> JSON:
    return {
        "id": channel.id,
        "kind": channel.kind,
        "name": channel.name,
        "department_id": channel.department_id,
        "last_seq": channel.last_seq,
        "last_version": channel.last_version,
    }


def error_frame(code: str, message: str, ref: Any = None, *,
                details: dict[str, str] | None = None) -> JSON:
    frame: JSON = {"type": "error", "code": code, "message": message, **(details or {})}
    if ref is not None:
        frame["ref"] = ref
    return frame


# --- schema ----------------------------------------------------------------------------

_MESSAGE_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "channel_id": (int,), "seq": (int,), "version": (int,),
    "sender_id": (int, type(None)), "client_id": (str, type(None)), "kind": (str,),
    "body": (str,), "revision": (int,), "created_at": (str,),
    "edited_at": (str, type(None)), "deleted_at": (str, type(None)),
    "purged_at": (str, type(None)),
    "data": (dict, type(None)),
}
_CHANNEL_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "kind": (str,), "name": (str,), "department_id": (int, type(None)),
    "last_seq": (int,), "last_version": (int,),
}
_LIST = (list,)
SERVER_FRAMES: dict[str, dict[str, tuple[type, ...]]] = {
    "ready": {"user": (dict,), "channels": _LIST, "online_user_ids": _LIST,
              "call_presence": _LIST,
              "heartbeat_seconds": (int, float)},
    "ack": {"client_id": (str,), "message": (dict,), "duplicate": (bool,)},
    "message": {"message": (dict,)},
    "message.updated": {"message": (dict,)},
    "resync.result": {"channel_id": (int,), "messages": _LIST, "updated": _LIST,
                      "next_seq": (int,), "next_version": (int,), "last_seq": (int,),
                      "last_version": (int,),
                      "limited": (bool,)},
    "read": {"channel_id": (int,), "user_id": (int,), "seq": (int,)},
    "read.ok": {"channel_id": (int,), "seq": (int,)},
    "typing": {"channel_id": (int,), "user_id": (int,)},
    "presence": {"user_id": (int,), "status": (str,)},
    "call.presence": {"user_id": (int,), "status": (str,)},
    "channel.joined": {"channel": (dict,)},
    "channel.left": {"channel_id": (int,)},
    "resync.required": {"reason": (str,)},
    "ok": {"message": (dict,)},
    "pong": {},
    "hello": {"dpop_nonce": (str,)},
    "error": {"code": (str,), "message": (str,)},
}


CALL_PRESENCE_STATUSES = frozenset({"ringing", "on_call", "idle"})


def validate_server_frame(frame: Any) -> None:
    """Raise ValueError unless ``frame`` is a well-formed server frame."""
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ValueError(f"not a frame: {frame!r}")
    fields = SERVER_FRAMES.get(frame["type"])
    if fields is None:
        raise ValueError(f"unknown server frame type {frame['type']!r}")
    _check(frame, fields)
    for key in ("message",):
        if isinstance(frame.get(key), dict):
            _check(frame[key], _MESSAGE_FIELDS)
    for key in ("messages", "updated"):
        for item in frame.get(key, []) if frame["type"] == "resync.result" else []:
            _check(item, _MESSAGE_FIELDS)
    if frame["type"] in {"ready"}:
        for item in frame["channels"]:
            _check(item, {**_CHANNEL_FIELDS, "last_read_seq": (int,)})
    if frame["type"] == "channel.joined":
        _check(frame["channel"], _CHANNEL_FIELDS)
    if frame["type"] == "presence" and frame["status"] not in {"online", "offline"}:
        raise ValueError(f"bad presence status {frame['status']!r}")
    if frame["type"] == "call.presence" and frame["status"] not in CALL_PRESENCE_STATUSES:
        raise ValueError(f"bad call presence status {frame['status']!r}")
    for item in frame.get("call_presence", []) if frame["type"] == "ready" else []:
        _check(item, SERVER_FRAMES["call.presence"])
        if item["status"] not in CALL_PRESENCE_STATUSES - {"idle"}:
            raise ValueError(f"bad call presence status {item['status']!r}")


def _check(obj: Any, fields: dict[str, tuple[type, ...]]) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"expected an object, got {obj!r}")
    for name, types in fields.items():
        if name not in obj:
            raise ValueError(f"missing field {name!r} in {obj!r}")
        value = obj[name]
        if isinstance(value, bool) and bool not in types:
            raise ValueError(f"field {name!r} has the wrong type in {obj!r}")
        if not isinstance(value, types):
            raise ValueError(f"field {name!r} has the wrong type in {obj!r}")
