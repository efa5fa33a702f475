"""Every topic on the bus: its name, how a publisher makes it, how the hub reads it.

The publishers (``chat.actions``, the websocket's typing) and the subscriber
(``chat.hub``) both import this module, so a topic is spelled in one place. A topic says
where its event goes; the event's data is opaque to the routing: the hub never parses a
frame to decide whom it is for.

=======================================  ===========================================
topic                                    data
=======================================  ===========================================
``channel:{channel_id}``                 a frame for every member's connections
``user:{user_id}``                       a frame for every connection of one person
``membership.joined:{user_id}:{ch}``     the ``channel.joined`` frame; the person's
                                         connections start receiving channel ``ch``
``membership.left:{user_id}:{ch}``       the ``channel.left`` frame; they stop
``presence``                             JSON ``{user_id, status, node}``: a person's
                                         first connection on a node, or their last, went
``call.presence``                        a ``call.presence`` frame for every connection
``everyone``                             a frame for every connection on every node (a
                                         disaster declared or ended)
``sessions.revoked``                     JSON ``{session_ids, reason}``: close them
``bus.gap``                              empty: the bus lost events (the backends yield
                                         it; nobody publishes it)
``bus.probe``                            JSON ``{node, at}``: a hub's fan-out lag probe,
                                         measured by the node that sent it
=======================================  ===========================================
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class TopicKind(StrEnum):
    """The kinds of topic: the part of a topic's name before its first ``:``."""

    CHANNEL = "channel"
    USER = "user"
    JOINED = "membership.joined"
    LEFT = "membership.left"
    PRESENCE = "presence"
    CALL_PRESENCE = "call.presence"
    EVERYONE = "everyone"
    SESSIONS_REVOKED = "sessions.revoked"
    GAP = "bus.gap"
    # A node's fan-out lag probe, heard back by that node alone (chat.hub.fanout). Older
    # nodes ignore it, as they do any topic they do not know.
    PROBE = "bus.probe"


# The topics that carry no id: the kind is the whole name.
PRESENCE_TOPIC = TopicKind.PRESENCE.value
CALL_PRESENCE_TOPIC = TopicKind.CALL_PRESENCE.value
EVERYONE_TOPIC = TopicKind.EVERYONE.value
SESSIONS_REVOKED_TOPIC = TopicKind.SESSIONS_REVOKED.value
GAP = TopicKind.GAP.value
PROBE_TOPIC = TopicKind.PROBE.value

_KINDS = {kind.value: kind for kind in TopicKind}
_CHANNEL = TopicKind.CHANNEL.value
_WITHOUT_ID = frozenset({TopicKind.PRESENCE, TopicKind.CALL_PRESENCE, TopicKind.EVERYONE,
                         TopicKind.SESSIONS_REVOKED, TopicKind.GAP, TopicKind.PROBE})


class Topic(NamedTuple):
    """A topic read back: its kind and the ids it names (0 where the kind names none:
    a channel topic has no user, a presence topic neither)."""

    kind: TopicKind
    user_id: int = 0
    channel_id: int = 0


def channel_topic(channel_id: int) -> str:
    return f"channel:{channel_id}"


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


def joined_topic(user_id: int, channel_id: int) -> str:
    """Carries the ``channel.joined`` frame: the hub subscribes the person's connections
    to the channel before writing it, so nothing of the channel precedes it."""
    return f"membership.joined:{user_id}:{channel_id}"


def left_topic(user_id: int, channel_id: int) -> str:
    """Carries the ``channel.left`` frame: the hub unsubscribes first."""
    return f"membership.left:{user_id}:{channel_id}"


def parse_topic(topic: str) -> Topic | None:
    """What ``topic`` names, or None for a topic this version does not know (a newer
    node's, during a rolling upgrade) or a malformed one."""
    name, _, ids = topic.partition(":")
    kind = _KINDS.get(name)
    if kind is None:
        return None
    try:
        if kind is TopicKind.CHANNEL:
            return Topic(kind, 0, int(ids))
        if kind is TopicKind.USER:
            return Topic(kind, int(ids), 0)
        if kind is TopicKind.JOINED or kind is TopicKind.LEFT:
            user_id, _, channel_id = ids.partition(":")
            return Topic(kind, int(user_id), int(channel_id))
    except ValueError:
        return None
    return Topic(kind) if not ids and kind in _WITHOUT_ID else None


def channel_id_of(topic: str) -> int | None:
    """The channel a channel topic names; None for any other topic. What
    :func:`parse_topic` says of a channel topic, without building a :class:`Topic`: a
    batch's fanout asks it of every event."""
    name, _, channel_id = topic.partition(":")
    if name != _CHANNEL:
        return None
    try:
        return int(channel_id)
    except ValueError:
        return None
