"""The audit chain's hashed form (docs/audit.md), pinned: every stored log is verified by
recomputing it, so it must never change by accident (an encoder made differently, a key
renamed). The expected bytes are written out here by hand from the documented rules."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from chat.domain.auditchain import GENESIS_HASH, EntryContent, entry_hash

JST = timezone(timedelta(hours=9))


def entry(**changes: object) -> EntryContent:
    fields: dict[str, object] = {
        "seq": 42, "occurred_at": datetime(2026, 11, 27, 13, 5, 9, 120034, tzinfo=JST),
        "action": "message.created", "outcome": "ok", "actor_user_id": 7,
        "subject_user_id": None, "device_id": 3, "session_id": 11,
        "remote_addr": "127.0.0.1",
        "detail": '{"body_sha256": "ab", "channel_id": 5, "note": "防災"}'}
    fields.update(changes)
    return EntryContent(**fields)  # type: ignore[arg-type]


CANONICAL = (
    '{"action":"message.created","actor_user_id":7,"detail":"{\\"body_sha256\\": \\"ab\\", '
    '\\"channel_id\\": 5, \\"note\\": \\"防災\\"}","device_id":3,'
    '"occurred_at":"2026-11-27T04:05:09.120034Z","outcome":"ok",'
    '"remote_addr":"127.0.0.1","seq":42,"session_id":11,"subject_user_id":null}'
).encode()


def test_the_canonical_form_is_sorted_compact_utf8_json_in_utc() -> None:
    assert entry().canonical() == CANONICAL


def test_an_entrys_hash_chains_on_the_previous_one() -> None:
    first = entry_hash(GENESIS_HASH, entry())
    assert first == hashlib.sha256(GENESIS_HASH.encode() + b"\n" + CANONICAL).hexdigest()
    second = entry_hash(first, entry(seq=43))
    assert second == hashlib.sha256(
        first.encode() + b"\n" + CANONICAL.replace(b'"seq":42', b'"seq":43')).hexdigest()


def test_the_same_instant_in_any_zone_hashes_the_same() -> None:
    utc = datetime(2026, 11, 27, 4, 5, 9, 120034, tzinfo=UTC)
    assert entry(occurred_at=utc).canonical() == CANONICAL
