"""Bus topics (chat/bus/topics.py): what publishers make is what the hub reads back."""

from __future__ import annotations

import pytest

from chat.bus import GAP as BUS_GAP
from chat.bus import topics
from chat.bus.topics import (
    CALL_PRESENCE_TOPIC,
    EVERYONE_TOPIC,
    GAP,
    PRESENCE_TOPIC,
    PROBE_TOPIC,
    SESSIONS_REVOKED_TOPIC,
    Topic,
    TopicKind,
    channel_id_of,
    channel_topic,
    joined_topic,
    left_topic,
    parse_topic,
    user_topic,
)

# One of each kind, as its publisher makes it.
MADE = {
    TopicKind.CHANNEL: (channel_topic(7), Topic(TopicKind.CHANNEL, channel_id=7)),
    TopicKind.USER: (user_topic(5), Topic(TopicKind.USER, user_id=5)),
    TopicKind.JOINED: (joined_topic(5, 9), Topic(TopicKind.JOINED, user_id=5, channel_id=9)),
    TopicKind.LEFT: (left_topic(5, 9), Topic(TopicKind.LEFT, user_id=5, channel_id=9)),
    TopicKind.PRESENCE: (PRESENCE_TOPIC, Topic(TopicKind.PRESENCE)),
    TopicKind.CALL_PRESENCE: (CALL_PRESENCE_TOPIC, Topic(TopicKind.CALL_PRESENCE)),
    TopicKind.EVERYONE: (EVERYONE_TOPIC, Topic(TopicKind.EVERYONE)),
    TopicKind.SESSIONS_REVOKED: (SESSIONS_REVOKED_TOPIC, Topic(TopicKind.SESSIONS_REVOKED)),
    TopicKind.GAP: (GAP, Topic(TopicKind.GAP)),
    TopicKind.PROBE: (PROBE_TOPIC, Topic(TopicKind.PROBE)),
}


def test_every_kind_of_topic_can_be_made_and_is_in_the_modules_table() -> None:
    assert set(MADE) == set(TopicKind)
    table = topics.__doc__ or ""
    for kind in TopicKind:
        assert f"``{kind.value}" in table, kind


@pytest.mark.parametrize("kind", list(TopicKind))
def test_a_topic_reads_back_as_what_made_it(kind: TopicKind) -> None:
    name, parsed = MADE[kind]
    assert name.partition(":")[0] == kind
    assert parse_topic(name) == parsed


@pytest.mark.parametrize("name", [
    *(made for made, _ in MADE.values()), "channel:seven", "channel:", "channels:7"])
def test_the_channel_fast_path_agrees_with_parsing(name: str) -> None:
    parsed = parse_topic(name)
    expected = parsed.channel_id if parsed and parsed.kind is TopicKind.CHANNEL else None
    assert channel_id_of(name) == expected


def test_the_names_on_the_bus_are_those_every_node_already_uses() -> None:
    """Nodes of one deployment share the bus: a renamed topic would be ignored by a node
    still running the previous version."""
    assert [channel_topic(7), user_topic(5), PRESENCE_TOPIC, CALL_PRESENCE_TOPIC,
            SESSIONS_REVOKED_TOPIC, GAP] == [
        "channel:7", "user:5", "presence", "call.presence", "sessions.revoked", "bus.gap"]
    assert BUS_GAP is GAP  # what the backends yield


@pytest.mark.parametrize("name", [
    "weather:tokyo", "channel:", "channel:seven", "user:5:6", "membership.joined:5",
    "membership.left:5:x", "presence:3", "", ":7"])
def test_unknown_or_malformed_topics_read_as_none(name: str) -> None:
    assert parse_topic(name) is None
