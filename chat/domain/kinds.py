"""The message kinds: the one vocabulary of what a message row can be.

Every side names a kind through this enum (the store's ``messages.kind``, the wire's
``message.kind``, the push texts, the client's card views through the constants the page
is served). A new card kind starts here; ``docs/extending.md`` lists the other files.
"""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    MISSED_CALL = "call.missed"   # a missed call to a person or a desk-group phone
    MEMO = "memo"                 # 伝言メモ taken by an operator
