"""Auditor filters, records and export formats (chat/domain/records.py, export.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from chat.domain.export import (
    CSV_HEADER,
    FileSummary,
    build_manifest,
    csv_rows,
    csv_text,
    jsonl_line,
    parse_formats,
    safe_cell,
)
from chat.domain.records import (
    MessageRecord,
    Person,
    RecordFilters,
    RevisionRecord,
    may_read_records,
    parse_filters,
)
from chat.domain.roles import Role

T0 = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 2026-12-01 00:30 in Japan
TANAKA = Person(id=4, staff_number="1004", name="田中 美咲")


def record(*revisions: RevisionRecord, **changes: object) -> MessageRecord:
    values: dict[str, object] = dict(
        id=7, channel_id=6, channel_name="防災係", channel_kind="department", seq=3,
        sender=TANAKA, created_at=T0, edited_at=None, deleted_at=None, purged_at=None,
        revisions=revisions)
    values.update(changes)
    return MessageRecord(**values)  # type: ignore[arg-type]


def revision(number: int, action: str, body: str) -> RevisionRecord:
    return RevisionRecord(revision=number, action=action, body=body, at=T0, actor=TANAKA)


# --- roles and filters ---------------------------------------------------------------------


def test_only_auditors_read_records() -> None:
    assert may_read_records(Role.AUDITOR)
    assert not any(may_read_records(r) for r in Role if r is not Role.AUDITOR)


def test_a_date_is_a_whole_day_in_japan_time_and_to_includes_it() -> None:
    filters = parse_filters(since="2026-12-01", until="2026-12-01")
    assert filters.start == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert filters.end == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_rfc3339_bounds_are_taken_as_given_and_need_an_offset() -> None:
    filters = parse_filters(since="2026-12-01T09:00:00+09:00", until="2026-12-01T01:00:00Z")
    assert filters.start == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert filters.end == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="offset"):
        parse_filters(since="2026-12-01T09:00:00")
    with pytest.raises(ValueError, match="later"):
        parse_filters(since="2026-12-02", until="2026-12-01")
    with pytest.raises(ValueError, match="valid date"):
        parse_filters(since="2026-02-30")


def test_words_split_on_any_space_and_repeat_once() -> None:
    assert parse_filters(words="防災　訓練 防災").words == ("防災", "訓練")
    assert parse_filters(words=["防災 訓練"]).words == ("防災", "訓練")
    assert parse_filters(words="").words == ()
    with pytest.raises(ValueError, match="at most"):
        parse_filters(words="a b c d e f")


def test_filters_survive_the_round_trip_through_a_job() -> None:
    filters = parse_filters(user="1004", channel_id="6", since="2026-12-01", words="防災")
    stored = json.loads(json.dumps(filters.to_json()))
    assert RecordFilters.from_json(stored) == filters
    assert stored["from"] == "2026-11-30T15:00:00Z"


# --- records ----------------------------------------------------------------------------


def test_state_is_the_strongest_change() -> None:
    assert record().state == "live"
    assert record(edited_at=T0).state == "edited"
    assert record(edited_at=T0, deleted_at=T0).state == "deleted"
    assert record(deleted_at=T0, purged_at=T0).state == "purged"


def test_a_jsonl_line_is_one_message_with_every_revision_in_utc() -> None:
    line = jsonl_line(record(revision(1, "create", "防災\n訓練"), revision(2, "delete", ""),
                             deleted_at=T0))
    assert line.endswith("\n") and line.count("\n") == 1
    data = json.loads(line)
    assert data["state"] == "deleted"
    assert data["created_at"] == "2026-11-30T15:30:00Z"
    assert [r["body"] for r in data["revisions"]] == ["防災\n訓練", ""]
    assert data["revisions"][0]["actor"]["staff_number"] == "1004"


# --- CSV --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+2", "+81-3", "-1", "@SUM(A1)", "\tx", "\rx", "\nx",
                                  "＝1+2", '=1+2";=1+2'])
def test_cells_that_would_run_as_formulas_get_an_apostrophe(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["防災訓練", "1+2", "a=b", "", "'quoted"])
def test_other_cells_are_left_alone(text: str) -> None:
    assert safe_cell(text) == text


def test_csv_has_one_row_per_revision_with_japan_and_utc_times() -> None:
    rows = csv_rows(record(revision(1, "create", "=HYPERLINK(\"x\")"),
                           revision(2, "edit", "直した"), edited_at=T0))
    assert len(rows) == 2
    first = dict(zip(CSV_HEADER, rows[0], strict=True))
    assert first["body"] == "'=HYPERLINK(\"x\")"
    assert first["at_jst"] == "2026-12-01T00:30:00+09:00"
    assert first["at_utc"] == "2026-11-30T15:30:00Z"
    assert first["state"] == "edited" and first["sender_name"] == "田中 美咲"


def test_a_purged_message_is_one_row_without_text() -> None:
    (row,) = csv_rows(record(purged_at=T0, deleted_at=None))
    cells = dict(zip(CSV_HEADER, row, strict=True))
    assert cells["action"] == "purged" and cells["body"] == "" and cells["revision"] == ""
    assert cells["at_jst"] == "2026-12-01T00:30:00+09:00"


def test_csv_text_follows_rfc_4180() -> None:
    text = csv_text([("a", 'say "hi", then\nleave'), ("b", "c")])
    assert text == 'a,"say ""hi"", then\nleave"\r\nb,c\r\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", 'say "hi", then\nleave'], ["b", "c"]]


def test_formats() -> None:
    assert parse_formats(None) == ("jsonl", "csv")
    assert parse_formats("csv,jsonl") == ("jsonl", "csv")
    assert parse_formats(["CSV"]) == ("csv",)
    bad_values: list[object] = ["xlsx", [], "jsonl,pdf", 3]
    for bad in bad_values:
        with pytest.raises(ValueError):
            parse_formats(bad)


def test_the_manifest_lists_each_file_and_the_audit_head() -> None:
    manifest = build_manifest(
        export_id=3, created_at=T0, finished_at=T0, requested_by="吉田 修 (user 11)",
        requested_by_user_id=11, filters={"words": ["防災"]},
        files=[FileSummary("messages.jsonl", 2, 100, "ab" * 32)], messages=2, revisions=3,
        purged=0, up_to_message_id=9, audit_head=(42, "cd" * 32))
    assert manifest["files"] == [{"name": "messages.jsonl", "rows": 2, "bytes": 100,
                                  "sha256": "ab" * 32}]
    assert manifest["audit_head"] == {"seq": 42, "hash": "cd" * 32}
    assert manifest["counts"] == {"messages": 2, "revisions": 3, "purged": 0}
