"""One time format on the wire: RFC 3339 in UTC with ``Z`` (docs/protocol.md)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from chat.domain.dates import JST, wire_time, wire_time_or_none

ROOT = Path(__file__).resolve().parents[2]


def test_utc_instant_ends_in_z() -> None:
    assert wire_time(datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)) == (
        "2026-12-07T01:02:03.456789Z")
    assert wire_time(datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)) == "2026-12-07T01:02:03Z"


def test_other_offsets_are_converted_to_utc() -> None:
    assert wire_time(datetime(2026, 12, 7, 10, 0, tzinfo=JST)) == "2026-12-07T01:00:00Z"
    minus = timezone(timedelta(hours=-5))
    assert wire_time(datetime(2026, 12, 6, 20, 0, tzinfo=minus)) == "2026-12-07T01:00:00Z"


def test_none_stays_none() -> None:
    assert wire_time_or_none(None) is None


def test_nothing_on_the_wire_formats_a_time_by_hand() -> None:
    """Frames and HTTP answers go through ``wire_time``; the one place ``isoformat`` may
    still appear there is an audit entry's detail (hashed as written, not on the wire)."""
    places = [ROOT / "chat" / "frames.py", *(ROOT / "chat" / "web").rglob("*.py"),
              *(ROOT / "chat" / "actions").rglob("*.py"), ROOT / "chat" / "domain" / "records.py",
              ROOT / "chat" / "domain" / "notices.py"]
    recorders = {"audit", "audit_within", "audit_or_fail"}
    by_hand = []
    for path in places:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_audit: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (getattr(node.func, "id", None) or getattr(
                    node.func, "attr", None)) in recorders:
                in_audit.update(id(inner) for inner in ast.walk(node))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "isoformat" \
                    and id(node) not in in_audit:
                by_hand.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert by_hand == []
