"""Safety roll call rules (pure): what an answer may hold, the tally by department and
部, the CSV's cells."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat.domain.rollcall import (
    Answer,
    Position,
    RollCallInfo,
    RollCallRuleError,
    RollCallStatus,
    clean_note,
    csv_rows,
    parse_position,
    parse_status,
    place_people,
    tally,
    tally_lines,
    title,
)

AT = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)
DEPARTMENTS = {1: ("総務部", "bu", None, 1), 2: ("総務課", "ka", 1, 1),
               3: ("建設部", "bu", None, 2), 4: ("道路課", "ka", 3, 1)}
INFO = RollCallInfo(id=7, text="回答してください", drill=True, deadline=None, started_at=AT,
                    started_by="x", ended_at=None, message_id=1, channel_id=2)


def people() -> list:  # type: ignore[type-arg]
    return place_people([(10, "道路 一郎", "3001", 4), (11, "総務 花子", "1001", 2),
                         (12, "総務 次郎", "1002", 2), (13, "無所属 三郎", "9001", None)],
                        DEPARTMENTS)


def answer(user_id: int, status: RollCallStatus, **fields: object) -> Answer:
    return Answer(user_id=user_id, status=status, note=str(fields.get("note", "")),
                  position=fields.get("position"), answered_at=AT)  # type: ignore[arg-type]


def test_the_four_answers_and_nothing_else() -> None:
    assert [s.value for s in RollCallStatus] == ["safe", "safe_cannot_come", "injured",
                                                  "can_come"]
    assert parse_status("injured") is RollCallStatus.INJURED
    with pytest.raises(RollCallRuleError, match="status must be one of"):
        parse_status("fine")


def test_a_position_is_degrees_with_an_optional_accuracy_and_notes_are_short() -> None:
    assert parse_position(None) is None
    assert parse_position({"lat": 35.6812, "lon": 139.7671, "accuracy": 17.6}) == \
        Position(35681200, 139767100, 18)
    for bad in ({"lat": 91, "lon": 0}, {"lat": "35", "lon": 139}, {"lat": True, "lon": 1},
                {"lat": 1, "lon": 1, "accuracy": -1}, [35, 139]):
        with pytest.raises(RollCallRuleError):
            parse_position(bad)
    assert clean_note("  足を  捻挫 ") == "足を 捻挫"
    with pytest.raises(RollCallRuleError):
        clean_note("長" * 201)


def test_the_tally_counts_by_department_under_its_bu_and_lists_who_has_not_answered() -> None:
    result = tally(INFO, people(), {11: answer(11, RollCallStatus.SAFE),
                                    10: answer(10, RollCallStatus.INJURED),
                                    99: answer(99, RollCallStatus.SAFE)})  # no longer active
    assert (result["total"], result["answered"]) == (4, 2)
    assert result["counts"] == {"safe": 1, "safe_cannot_come": 0, "injured": 1,
                                "can_come": 0, "unanswered": 2}
    assert [(r["bu"], r["department"], r["total"]) for r in result["departments"]] == [
        ("総務部", "総務課", 2), ("建設部", "道路課", 1), ("", "", 1)]
    assert result["departments"][0]["counts"]["unanswered"] == 1
    assert [p["name"] for p in result["unanswered"]] == ["総務 次郎", "無所属 三郎"]
    assert result["rollcall"]["title"] == title(drill=True) == "【訓練】安否確認"
    lines = tally_lines(result)
    assert lines[1].startswith("回答 2/4") and "負傷 1" in lines[1]
    assert any("総務部 総務課" in line for line in lines)
    assert lines[-1] == "未回答: 総務 次郎（総務課）、無所属 三郎（所属なし）"


def test_the_csv_is_excel_safe_in_japan_time_with_a_position_only_if_given() -> None:
    rows = csv_rows(people(), {
        11: answer(11, RollCallStatus.CAN_COME, note="=HYPERLINK(1)",
                   position=Position(35681200, 139767100, None)),
        12: answer(12, RollCallStatus.SAFE)})
    by_number = {r[3]: r for r in rows}
    assert by_number["1001"][4:8] == ("can_come", "出勤可能", "'=HYPERLINK(1)",
                                      "2026-12-07T10:02:03+09:00")
    assert by_number["1001"][8:] == ("35.681200", "139.767100", "")
    assert by_number["1002"][8:] == ("", "", "")
    assert by_number["3001"][4:6] == ("unanswered", "未回答")
