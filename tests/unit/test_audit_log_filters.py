"""Audit log filters as people type them (chat.domain.audit_log)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat.domain.audit_log import page_size, parse_before, parse_log_filters


def test_an_exact_name_a_prefix_and_a_bare_group() -> None:
    exact = parse_log_filters(action="session.signed_in")
    assert (exact.action, exact.action_prefix) == ("session.signed_in", False)
    for typed in ("session.", "session*", "session.*", "SESSION"):
        prefix = parse_log_filters(action=typed)
        assert (prefix.action, prefix.action_prefix) == ("session.", True), typed
    assert parse_log_filters(action="records.export*").action == "records.export"
    with pytest.raises(ValueError, match="no audit action"):
        parse_log_filters(action="session.signed")
    with pytest.raises(ValueError, match="not an audit action"):
        parse_log_filters(action="session; drop")


def test_dates_are_days_in_japan_time_and_the_end_day_is_included() -> None:
    f = parse_log_filters(since="2026-12-01", until="2026-12-01")
    assert f.start == datetime(2026, 11, 30, 15, tzinfo=UTC)
    assert f.end == datetime(2026, 12, 1, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="later"):
        parse_log_filters(since="2026-12-02", until="2026-12-01")


def test_outcomes_people_and_paging_are_checked() -> None:
    f = parse_log_filters(actor=" 1002 ", subject="", outcome="refused")
    assert (f.actor, f.subject, f.outcome) == ("1002", None, "refused")
    assert f.as_detail() == {"filter_actor": "1002", "filter_outcome": "refused"}
    with pytest.raises(ValueError, match="outcome"):
        parse_log_filters(outcome="maybe")
    assert (page_size(None), page_size("200"), parse_before(""), parse_before("42")) == (
        50, 200, None, 42)
    for bad in ("0", "201", "x"):
        with pytest.raises(ValueError):
            page_size(bad)
    with pytest.raises(ValueError):
        parse_before("-1")
