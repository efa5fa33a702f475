"""Helpers shared by the substring searches."""

from __future__ import annotations


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE wildcards in ``text`` escaped by a backslash."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
