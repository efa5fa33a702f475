"""Anchors and the message-state comparison of `audit verify`, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chat.domain.auditchain import (
    GENESIS_HASH,
    Anchor,
    CurrentMessage,
    RecordedMessage,
    checkpoint_digest,
    message_disagreements,
    parse_anchors,
    sign_chained_checkpoint,
)

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_anchors_parse_as_one_object_or_json_lines_and_check_their_signature() -> None:
    key = Ed25519PrivateKey.generate()
    first = Anchor(number=1, seq=10, hash="a" * 64, prev_digest=GENESIS_HASH,
                   signed_at=NOW.isoformat(), key_id="k",
                   signature=sign_chained_checkpoint(key, 1, 10, "a" * 64, GENESIS_HASH))
    link = checkpoint_digest(1, 10, "a" * 64, GENESIS_HASH)
    second = Anchor(number=2, seq=20, hash="b" * 64, prev_digest=link,
                    signed_at=NOW.isoformat(), key_id="k",
                    signature=sign_chained_checkpoint(key, 2, 20, "b" * 64, link))
    assert parse_anchors(first.to_json()) == [first]
    assert parse_anchors(first.to_json() + "\n" + second.to_json() + "\n") == [first, second]
    assert all(a.valid(key.public_key()) for a in (first, second))
    assert not first.valid(Ed25519PrivateKey.generate().public_key())
    forged = Anchor(**{**vars(second), "seq": 21})
    assert not forged.valid(key.public_key())
    for bad in ("", "{", '{"seq": 1}'):
        with pytest.raises(ValueError):
            parse_anchors(bad)


def message(**changes: object) -> CurrentMessage:
    fields: dict[str, object] = {"id": 5, "channel_id": 2, "sender_id": 7, "revision": 1,
                                 "created_at": NOW, "edited_at": None, "deleted_at": None,
                                 "purged": False}
    return CurrentMessage(**{**fields, **changes})  # type: ignore[arg-type]


def recorded() -> RecordedMessage:
    state = RecordedMessage()
    state.note("message.created", NOW + timedelta(milliseconds=3),
               {"message_id": 5, "channel_id": 2, "revision": 1, "sender_id": 7})
    return state


def test_a_message_agreeing_with_its_entries_has_nothing_to_report() -> None:
    assert message_disagreements(message(), recorded()) == []


@pytest.mark.parametrize(("changes", "words"), [
    ({"created_at": NOW - timedelta(days=730)}, "the log sealed its creation at"),
    ({"deleted_at": NOW, "revision": 1}, "no message.deleted entry"),
    ({"channel_id": 3}, "channel 3, the log says 2"),
    ({"sender_id": 8}, "sender 8, the log says 7"),
    ({"revision": 2}, "revision 2, the log records revision 1"),
    ({"edited_at": NOW}, "no message.edited entry"),
])
def test_each_difference_is_named(changes: dict[str, object], words: str) -> None:
    found = message_disagreements(message(**changes), recorded())
    assert any(words in f for f in found), found


def test_legacy_entries_without_a_sender_vouch_for_none() -> None:
    state = RecordedMessage()
    state.note("message.created", NOW, {"message_id": 5, "channel_id": 2, "revision": 1})
    assert message_disagreements(message(sender_id=99), state) == []
    assert message_disagreements(message(), None) == [
        "no message.created entry in the audit log vouches for it"]
