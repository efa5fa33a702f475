"""Retention periods and legal holds as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chat.domain.dates import parse_moment
from chat.domain.retention import (
    HoldScope,
    PolicyRow,
    check_hold_scope,
    effective_policy,
    held_by,
    parse_keep_years,
    years_before,
)

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "years"), [
    ("1", 1), ("3", 3), (" 5y ", 5), ("10年", 10), ("30", 30),
    ("forever", None), ("永年", None), ("無期限", None), ("FOREVER", None),
])
def test_periods_are_years_or_forever(text: str, years: int | None) -> None:
    assert parse_keep_years(text) == years


@pytest.mark.parametrize("text", ["0", "-1", "101", "three", "", "1.5"])
def test_other_periods_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="year"):
        parse_keep_years(text)


def test_years_before_is_calendar_years_and_29_february_falls_back() -> None:
    assert years_before(NOW, 3) == datetime(2023, 11, 26, 3, 0, tzinfo=UTC)
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert years_before(leap, 1) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert years_before(leap, 4) == datetime(2024, 2, 29, 12, 0, tzinfo=UTC)


def test_a_channel_policy_wins_over_its_kind_and_none_means_forever() -> None:
    policies = [PolicyRow("department", None, 5), PolicyRow(None, 7, None),
                PolicyRow("direct", None, 1), PolicyRow(None, 8, 10)]
    assert effective_policy(3, "department", policies).keep_years == 5
    assert effective_policy(3, "department", policies).source == "kind"
    forever = effective_policy(7, "department", policies)
    assert (forever.keep_years, forever.source, forever.cutoff(NOW)) == (None, "channel", None)
    assert effective_policy(8, "direct", policies).keep_years == 10
    default = effective_policy(9, "group", policies)
    assert (default.keep_years, default.source, default.cutoff(NOW)) == (None, "default", None)
    assert effective_policy(3, "direct", policies).cutoff(NOW) == years_before(NOW, 1)


def _covers(hold: HoldScope, *, sender: int | None = 1, channel: int = 10,
            at: datetime = NOW) -> bool:
    return hold.covers(sender_id=sender, channel_id=channel, created_at=at)


def test_a_hold_on_a_person_covers_what_they_sent_and_their_conversations() -> None:
    hold = HoldScope(hold_id=1, user_id=5, conversation_ids=frozenset({20}))
    assert _covers(hold, sender=5, channel=10)       # they wrote it, anywhere
    assert _covers(hold, sender=6, channel=20)       # the other side of their chat
    assert not _covers(hold, sender=6, channel=10)   # someone else, elsewhere
    assert not _covers(hold, sender=None, channel=10)


def test_every_criterion_a_hold_names_must_match() -> None:
    start, end = NOW - timedelta(days=10), NOW
    hold = HoldScope(hold_id=2, channel_id=10, starts_at=start, ends_at=end)
    assert _covers(hold, channel=10, at=start)
    assert not _covers(hold, channel=10, at=end)             # the end is exclusive
    assert not _covers(hold, channel=10, at=start - timedelta(seconds=1))
    assert not _covers(hold, channel=11, at=start)
    dates_only = HoldScope(hold_id=3, starts_at=start)
    assert _covers(dates_only, channel=99, at=NOW + timedelta(days=400))
    assert held_by([hold, dates_only], sender_id=1, channel_id=10, created_at=start) == [2, 3]
    assert held_by([hold], sender_id=1, channel_id=11, created_at=start) == []


def test_a_hold_must_name_something_and_a_range_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="must name"):
        check_hold_scope(user_id=None, channel_id=None, starts_at=None, ends_at=None)
    with pytest.raises(ValueError, match="end after"):
        check_hold_scope(user_id=None, channel_id=None, starts_at=NOW, ends_at=NOW)
    check_hold_scope(user_id=1, channel_id=None, starts_at=None, ends_at=None)


def test_days_are_japan_time_and_an_end_day_is_included() -> None:
    assert parse_moment("2026-04-01", name="since") == datetime(2026, 3, 31, 15, 0, tzinfo=UTC)
    assert parse_moment("2026-04-01", name="until", end_of_day=True) == datetime(
        2026, 4, 1, 15, 0, tzinfo=UTC)
    assert parse_moment("2026-04-01T09:00:00+09:00", name="x") == datetime(
        2026, 4, 1, 0, 0, tzinfo=UTC)
    assert parse_moment("2026-04-01T00:00:00Z", name="x") == datetime(2026, 4, 1, tzinfo=UTC)
    for bad in ("2026-13-01", "yesterday", "2026-04-01T09:00:00"):
        with pytest.raises(ValueError):
            parse_moment(bad, name="since")


def test_time_windows_merge_what_overlaps() -> None:
    from chat.domain.retention import time_windows

    minute = timedelta(minutes=1)
    far = NOW - timedelta(days=730)
    windows = time_windows([NOW + 3 * minute, NOW, far], 5 * minute)
    assert windows == [(far - 5 * minute, far + 5 * minute),
                       (NOW - 5 * minute, NOW + 8 * minute)]
    assert time_windows([], minute) == []
