"""Server frames: how domain objects go on the wire, and the schema every frame obeys.

Frames are serialised once (``encode``) and the same text is queued to every recipient.
``docs/protocol.md`` shows an example of each frame; tests validate every frame they see
with :func:`validate_server_frame`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from chat.domain.dates import wire_time_or_none
from chat.domain.messages import MessageExtras
from chat.store.models import Attachment, Channel
from chat.types import JSON

# One encoder for every frame: ``json.dumps`` with any argument builds a new encoder per
# call, 40 % of the time it takes to encode a message frame.
_FRAME_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(frame: JSON) -> str:
    return _FRAME_ENCODER.encode(frame)


_ts = wire_time_or_none


class MessageFields(Protocol):
    """What a message frame shows: a stored :class:`Message`, or a row a batch of sends
    has just inserted (chat.actions.messages), which never becomes an ORM object."""

    @property
    def id(self) -> int: ...
    @property
    def channel_id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def sender_id(self) -> int | None: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def edited_at(self) -> datetime | None: ...
    @property
    def deleted_at(self) -> datetime | None: ...
    @property
    def purged_at(self) -> datetime | None: ...
    @property
    def data(self) -> str | None: ...
    @property
    def mentions(self) -> str | None: ...
    @property
    def pinned_at(self) -> datetime | None: ...


def message_json(message: MessageFields, extras: MessageExtras | None = None) -> JSON:
    """The message on the wire. ``extras`` (the quoted message, stamps, the photo) come
    from ``chat.actions.messages.wire_messages``, loaded once per page of messages."""
    gone = bool(message.deleted_at or message.purged_at)
    quote = extras.reply_to if extras else None
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
        "reply_to": ({"id": quote.id, "sender_id": quote.sender_id, "excerpt": quote.excerpt}
                     if quote else None),
        "mentions": json.loads(message.mentions) if message.mentions else [],
        "reactions": extras.reactions if extras else [],
        "pinned_at": _ts(message.pinned_at),
        # A photo goes with its message's text: not shown once deleted or purged.
        "attachment": extras.attachment if extras and not gone else None,
    }


def attachment_json(attachment: Attachment) -> JSON:
    """A photo as messages and the upload answer show it; the bytes are fetched with a
    proof from ``url`` and ``thumb_url``."""
    location = None
    if attachment.latitude_e6 is not None and attachment.longitude_e6 is not None:
        location = {"lat": attachment.latitude_e6 / 1e6, "lon": attachment.longitude_e6 / 1e6}
    return {
        "id": attachment.id,
        "content_type": attachment.content_type,
        "width": attachment.width,
        "height": attachment.height,
        "bytes": attachment.size,
        "url": f"/api/attachments/{attachment.id}",
        "thumb_url": f"/api/attachments/{attachment.id}/thumb",
        "location": location,
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
                details: dict[str, str | int] | None = None) -> JSON:
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
    "reply_to": (dict, type(None)), "mentions": (list,), "reactions": (list,),
    "pinned_at": (str, type(None)), "attachment": (dict, type(None)),
}
_QUOTE_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "sender_id": (int, type(None)), "excerpt": (str,)}
_REACTION_FIELDS: dict[str, tuple[type, ...]] = {"emoji": (str,), "user_ids": (list,)}
_ATTACHMENT_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "content_type": (str,), "width": (int,), "height": (int,),
    "bytes": (int,), "url": (str,), "thumb_url": (str,), "location": (dict, type(None))}
_CHANNEL_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "kind": (str,), "name": (str,), "department_id": (int, type(None)),
    "last_seq": (int,), "last_version": (int,),
}
_DISASTER_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "name": (str,), "drill": (bool,), "title": (str,), "declared_at": (str,),
    "declared_by": (str,), "ended_at": (str, type(None))}
_LIST = (list,)
SERVER_FRAMES: dict[str, dict[str, tuple[type, ...]]] = {
    "ready": {"user": (dict,), "channels": _LIST, "online_user_ids": _LIST,
              "call_presence": _LIST,
              "heartbeat_seconds": (int, float), "disaster": (dict, type(None))},
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
    "presence.batch": {"online": _LIST, "offline": _LIST},
    "call.presence": {"user_id": (int,), "status": (str,)},
    "channel.joined": {"channel": (dict,)},
    "channel.left": {"channel_id": (int,)},
    "resync.required": {"reason": (str,)},
    "ok": {"message": (dict,)},
    "pong": {},
    "server.restarting": {"retry_after_ms": (int,)},
    "hello": {"dpop_nonce": (str,)},
    "error": {"code": (str,), "message": (str,)},
    "mention": {"message": (dict,)},
    "reaction.updated": {"channel_id": (int,), "message_id": (int,), "reactions": _LIST},
    "pin.updated": {"channel_id": (int,), "message_id": (int,),
                    "pinned_at": (str, type(None)), "pinned_by": (int, type(None))},
    "confirm.updated": {"channel_id": (int,), "message_id": (int,),
                        "confirmed_count": (int,)},
    "broadcast.repeated": {"channel_id": (int,), "message_id": (int,), "repeat": (int,),
                           "message": (dict,)},
    "disaster.changed": {"disaster": (dict, type(None)), "ended": (dict, type(None))},
    "rollcall.tally": {"tally": (dict,)},
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
            _check_message(frame[key])
    for key in ("messages", "updated"):
        for item in frame.get(key, []) if frame["type"] == "resync.result" else []:
            _check_message(item)
    if frame["type"] == "reaction.updated":
        _check_reactions(frame["reactions"])
    if frame["type"] in {"ready"}:
        for item in frame["channels"]:
            _check(item, {**_CHANNEL_FIELDS, "last_read_seq": (int,), "muted": (bool,),
                          "may_post": (bool,)})
    if frame["type"] == "channel.joined":
        _check(frame["channel"], _CHANNEL_FIELDS)
    if frame["type"] == "presence" and frame["status"] not in {"online", "offline"}:
        raise ValueError(f"bad presence status {frame['status']!r}")
    if frame["type"] == "call.presence" and frame["status"] not in CALL_PRESENCE_STATUSES:
        raise ValueError(f"bad call presence status {frame['status']!r}")
    for key in ("disaster", "ended"):
        if frame["type"] in {"ready", "disaster.changed"} and frame.get(key) is not None:
            _check(frame[key], _DISASTER_FIELDS)
    for item in frame.get("call_presence", []) if frame["type"] == "ready" else []:
        _check(item, SERVER_FRAMES["call.presence"])
        if item["status"] not in CALL_PRESENCE_STATUSES - {"idle"}:
            raise ValueError(f"bad call presence status {item['status']!r}")


def _check_message(message: Any) -> None:
    _check(message, _MESSAGE_FIELDS)
    if message["reply_to"] is not None:
        _check(message["reply_to"], _QUOTE_FIELDS)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in message["mentions"]):
        raise ValueError(f"mentions must be user ids in {message!r}")
    _check_reactions(message["reactions"])
    if message["attachment"] is not None:
        _check(message["attachment"], _ATTACHMENT_FIELDS)
        location = message["attachment"]["location"]
        if location is not None:
            _check(location, {"lat": (float, int), "lon": (float, int)})


def _check_reactions(reactions: list[Any]) -> None:
    for item in reactions:
        _check(item, _REACTION_FIELDS)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in item["user_ids"]):
            raise ValueError(f"reaction user_ids must be user ids in {item!r}")


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
