"""The message kinds: the one vocabulary of what a message row can be.

Every side names a kind through this enum (the store's ``messages.kind``, the wire's
``message.kind``, the push texts, the client's card views through the constants the page
is served). A new card kind starts here; ``docs/extending.md`` lists the other files.
What each kind stores, how it goes on the wire, what its push says and what members may
do to it is its card's, in ``chat/domain/cards/`` (every member here must have one:
``tests/unit/test_cards.py``).
"""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    MISSED_CALL = "call.missed"   # a missed call to a person or a desk-group phone
    MEMO = "memo"                 # 伝言メモ taken by an operator
    BROADCAST = "broadcast"       # 緊急放送: an urgent message that overrides mute
    REPORT = "report"             # 被害報告: a field report to the disaster HQ
    ROLLCALL = "rollcall"         # 安否確認: HQ asks everyone; each answers with one tap
