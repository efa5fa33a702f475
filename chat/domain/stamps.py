"""Stamps (スタンプ): the fixed set of reactions a member may put on a message.

A fixed set keeps the wire small and the meaning clear in a workplace: six emoji and
three text stamps people at a city hall actually say. Compared exactly, code point by
code point (❤️ is U+2764 U+FE0F).
"""

from __future__ import annotations

STAMPS: tuple[str, ...] = (
    "👍",          # U+1F44D
    "❤️",          # U+2764 U+FE0F
    "😂",          # U+1F602
    "😮",          # U+1F62E
    "🙏",          # U+1F64F
    "✅",          # U+2705
    "了解",
    "お疲れさま",
    "ありがとう",
)

_ORDER = {stamp: index for index, stamp in enumerate(STAMPS)}


def is_stamp(value: str) -> bool:
    return value in _ORDER


def group_reactions(rows: list[tuple[str, int]]) -> list[dict[str, object]]:
    """``(stamp, user_id)`` pairs as the wire shows them: one entry per stamp in the
    set's order, each with its members' ids ascending; stamps nobody used are left out."""
    by_stamp: dict[str, list[int]] = {}
    for stamp, user_id in rows:
        by_stamp.setdefault(stamp, []).append(user_id)
    return [{"emoji": stamp, "user_ids": sorted(by_stamp[stamp])}
            for stamp in sorted(by_stamp, key=lambda s: _ORDER.get(s, len(_ORDER)))]
