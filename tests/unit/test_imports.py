"""Validating the city's department and staff CSV files (chat/domain/imports.py)."""

from __future__ import annotations

import pytest

from chat.domain.imports import (
    CsvProblems,
    DepartmentRow,
    StaffRow,
    infer_level,
    parse_departments,
    parse_staff,
)
from chat.domain.roles import Role

DEPARTMENTS = """\
code,name,kana,parent_code,level
SOUMU,総務部,そうむぶ,,部
SOUMU-SHOMU,総務課,そうむか,SOUMU,課
SOUMU-SHOMU-1,庶務係,しょむかかり,SOUMU-SHOMU,係
SHIMIN,市民部,しみんぶ,,bu
"""

STAFF_HEADER = "staff_number,name,kana,department_code,role,extension,active\n"
KNOWN = {"SOUMU", "SOUMU-SHOMU", "SOUMU-SHOMU-1"}


def problems_of(excinfo: pytest.ExceptionInfo[CsvProblems]) -> list[str]:
    problems = excinfo.value.problems
    assert str(excinfo.value) == "\n".join(problems)
    return problems


# --- departments -------------------------------------------------------------------------


def test_a_valid_department_file_parses_in_file_order() -> None:
    rows = parse_departments(DEPARTMENTS)
    assert rows == [
        DepartmentRow("SOUMU", "総務部", "そうむぶ", None, "bu"),
        DepartmentRow("SOUMU-SHOMU", "総務課", "そうむか", "SOUMU", "ka"),
        DepartmentRow("SOUMU-SHOMU-1", "庶務係", "しょむかかり", "SOUMU-SHOMU", "kakari"),
        DepartmentRow("SHIMIN", "市民部", "しみんぶ", None, "bu"),
    ]


@pytest.mark.parametrize(("raw", "level"), [
    ("部", "bu"), ("課", "ka"), ("係", "kakari"),
    ("bu", "bu"), ("ka", "ka"), ("kakari", "kakari"),
    ("", ""), ("  課  ", "ka"),
])
def test_levels_accept_japanese_names_and_romaji(raw: str, level: str) -> None:
    [row] = parse_departments(f"code,name,parent_code,level\nD1,部署,,{raw}\n")
    assert row.level == level


@pytest.mark.parametrize("raw", ["室", "部長", "BU", "division"])
def test_an_unknown_level_is_a_problem(raw: str) -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments(f"code,name,parent_code,level\nD1,部署,,{raw}\n")
    [problem] = problems_of(info)
    assert problem.startswith("line 2: level")
    assert raw in problem


def test_an_excel_byte_order_mark_is_ignored() -> None:
    rows = parse_departments("\ufeff" + DEPARTMENTS)
    assert [r.code for r in rows] == ["SOUMU", "SOUMU-SHOMU", "SOUMU-SHOMU-1", "SHIMIN"]


def test_kana_and_level_columns_are_optional() -> None:
    rows = parse_departments("code,name,parent_code\nA,総務部,\nB,総務課,A\n")
    assert rows == [DepartmentRow("A", "総務部", "", None, ""),
                    DepartmentRow("B", "総務課", "", "A", "")]


def test_cells_are_trimmed() -> None:
    [row] = parse_departments("code,name,parent_code\n  A ,  総務部 ,  \n")
    assert row == DepartmentRow("A", "総務部", "", None, "")


def test_a_child_may_come_before_its_parent() -> None:
    rows = parse_departments("code,name,parent_code\nB,総務課,A\nA,総務部,\n")
    assert [(r.code, r.parent_code) for r in rows] == [("B", "A"), ("A", None)]


@pytest.mark.parametrize("header", ["name,parent_code", "code,parent_code", "code,name",
                                    "コード,名称,親コード"])
def test_a_department_header_missing_required_columns_is_refused(header: str) -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments(header + "\nA,B,C\n")
    [problem] = problems_of(info)
    assert problem.startswith("header: missing columns")
    assert "expected code, name, kana, parent_code, level" in problem


def test_the_missing_columns_are_named() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments("code,kana\nA,あ\n")
    assert "missing columns name, parent_code " in problems_of(info)[0]


def test_an_empty_department_file_is_refused_for_its_missing_header() -> None:
    with pytest.raises(CsvProblems, match="header: missing columns"):
        parse_departments("")


def test_a_header_only_file_has_no_departments() -> None:
    assert parse_departments("code,name,parent_code\n") == []


def test_a_duplicate_department_code_is_a_problem_on_its_second_line() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments("code,name,parent_code\nA,総務部,\nA,市民部,\n")
    assert problems_of(info) == ["line 3: department A appears twice"]


def test_an_unknown_parent_is_a_problem_naming_the_department_and_parent() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments("code,name,parent_code\nA,総務部,\nB,総務課,ZZZ\n")
    assert problems_of(info) == ["department B: parent ZZZ is not in the file"]


def test_a_department_that_is_its_own_parent_is_a_problem() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments("code,name,parent_code\nA,総務部,A\n")
    assert problems_of(info) == ["line 2: department A is its own parent"]


def test_empty_code_and_empty_name_are_problems() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments("code,name,parent_code\n,総務部,\nB,,\n")
    assert problems_of(info) == ["line 2: code is empty", "line 3: name is empty"]


def test_every_department_problem_is_reported_together_with_its_line() -> None:
    text = (
        "code,name,parent_code,level\n"
        "A,総務部,,部\n"      # line 2: fine
        ",名無し,,\n"          # line 3: no code
        "A,重複,,\n"           # line 4: duplicate
        "C,,A,課\n"            # line 5: no name
        "D,福祉課,X,係長\n"    # line 6: bad level, unknown parent
    )
    with pytest.raises(CsvProblems) as info:
        parse_departments(text)
    assert problems_of(info) == [
        "line 3: code is empty",
        "line 4: department A appears twice",
        "line 5: name is empty",
        "line 6: level '係長' is not 部/課/係 (bu/ka/kakari)",
        "department D: parent X is not in the file",
    ]


def test_line_numbers_are_physical_lines_even_after_a_blank_line() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments("code,name,parent_code\nA,総務部,\n\nB,,A\n")
    assert problems_of(info) == ["line 4: name is empty"]


def test_line_numbers_count_the_lines_of_a_quoted_multi_line_cell() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_departments('code,name,parent_code\nA,"総務\n部",\nB,,A\n')
    assert problems_of(info) == ["line 4: name is empty"]


def test_crlf_line_endings_parse_like_lf() -> None:
    assert parse_departments(DEPARTMENTS.replace("\n", "\r\n")) == \
        parse_departments(DEPARTMENTS)


# --- staff -------------------------------------------------------------------------------


def test_a_valid_staff_file_parses_every_column() -> None:
    rows = parse_staff(
        STAFF_HEADER
        + "1001,山田太郎,やまだたろう,SOUMU-SHOMU-1,manager,2101,1\n"
        + "1002,佐藤花子,さとうはなこ,SOUMU,staff,,0\n",
        known_departments=KNOWN,
    )
    assert rows == [
        StaffRow("1001", "山田太郎", "やまだたろう", "SOUMU-SHOMU-1", Role.MANAGER, "2101",
                 True),
        StaffRow("1002", "佐藤花子", "さとうはなこ", "SOUMU", Role.STAFF, None, False),
    ]


def test_staff_optional_columns_default_to_active_staff_without_extension() -> None:
    [row] = parse_staff("staff_number,name,department_code\n1001,山田太郎,SOUMU\n",
                        known_departments=KNOWN)
    assert row == StaffRow("1001", "山田太郎", "", "SOUMU", Role.STAFF, None, True)


def test_staff_without_a_department_is_allowed() -> None:
    [row] = parse_staff(STAFF_HEADER + "1001,山田太郎,,,,,\n", known_departments=set())
    assert row.department_code is None


def test_the_byte_order_mark_is_ignored_in_staff_files() -> None:
    [row] = parse_staff("\ufeff" + STAFF_HEADER + "1001,山田太郎,,SOUMU,,,\n",
                        known_departments=KNOWN)
    assert row.staff_number == "1001"


def test_roles_are_parsed_case_insensitively() -> None:
    [row] = parse_staff(STAFF_HEADER + "1001,山田太郎,,SOUMU, Admin ,,\n",
                        known_departments=KNOWN)
    assert row.role is Role.ADMIN


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "Y", "はい", "有効", ""])
def test_active_values_meaning_yes(raw: str) -> None:
    [row] = parse_staff(STAFF_HEADER + f"1001,山田太郎,,SOUMU,,,{raw}\n",
                        known_departments=KNOWN)
    assert row.active is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "N", "いいえ", "無効"])
def test_active_values_meaning_no(raw: str) -> None:
    [row] = parse_staff(STAFF_HEADER + f"1001,山田太郎,,SOUMU,,,{raw}\n",
                        known_departments=KNOWN)
    assert row.active is False


@pytest.mark.parametrize("raw", ["2", "maybe", "退職"])
def test_an_unrecognised_active_value_is_a_problem(raw: str) -> None:
    with pytest.raises(CsvProblems) as info:
        parse_staff(STAFF_HEADER + f"1001,山田太郎,,SOUMU,,,{raw}\n", known_departments=KNOWN)
    assert problems_of(info) == [f"line 2: active must be 1 or 0, not {raw.lower()!r}"]


def test_a_staff_header_missing_required_columns_is_refused() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_staff("staff_number,name\n1001,山田太郎\n", known_departments=KNOWN)
    [problem] = problems_of(info)
    assert problem.startswith("header: missing columns department_code ")


def test_a_duplicate_staff_number_is_a_problem() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_staff(STAFF_HEADER + "1001,山田太郎,,SOUMU,,,\n1001,佐藤花子,,SOUMU,,,\n",
                    known_departments=KNOWN)
    assert problems_of(info) == ["line 3: staff number 1001 appears twice"]


def test_an_unknown_department_is_a_problem() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_staff(STAFF_HEADER + "1001,山田太郎,,KEIZAI,,,\n", known_departments=KNOWN)
    assert problems_of(info) == ["line 2: department KEIZAI does not exist"]


def test_an_unknown_role_is_a_problem_listing_the_allowed_roles() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_staff(STAFF_HEADER + "1001,山田太郎,,SOUMU,課長,,\n", known_departments=KNOWN)
    [problem] = problems_of(info)
    assert problem.startswith("line 2: unknown role '課長'")
    assert "staff, manager, operator, crisis, auditor, admin" in problem


def test_every_staff_problem_is_reported_together_with_its_line() -> None:
    text = (
        STAFF_HEADER
        + "1001,山田太郎,,SOUMU,staff,,1\n"    # line 2: fine
        + ",名無し,,SOUMU,,,\n"                # line 3: no staff number
        + "1001,重複,,SOUMU,,,\n"              # line 4: duplicate
        + "1003,,,NOWHERE,,,\n"                # line 5: no name, unknown department
        + "1004,鈴木一郎,,SOUMU,boss,,\n"      # line 6: bad role
        + "1005,高橋次郎,,SOUMU,,,maybe\n"     # line 7: bad active
    )
    with pytest.raises(CsvProblems) as info:
        parse_staff(text, known_departments=KNOWN)
    problems = problems_of(info)
    assert [p.split(":")[0] for p in problems] == \
        ["line 3", "line 4", "line 5", "line 5", "line 6", "line 7"]
    assert problems[:4] == [
        "line 3: staff_number is empty",
        "line 4: staff number 1001 appears twice",
        "line 5: name is empty",
        "line 5: department NOWHERE does not exist",
    ]
    assert "unknown role 'boss'" in problems[4]
    assert problems[5] == "line 7: active must be 1 or 0, not 'maybe'"


def test_staff_line_numbers_skip_over_blank_lines() -> None:
    with pytest.raises(CsvProblems) as info:
        parse_staff(STAFF_HEADER + "1001,山田太郎,,SOUMU,,,\n\n\n1002,,,SOUMU,,,\n",
                    known_departments=KNOWN)
    assert problems_of(info) == ["line 5: name is empty"]


def test_csv_problems_is_a_value_error() -> None:
    assert issubclass(CsvProblems, ValueError)


# --- infer_level -------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "level"), [(0, "bu"), (1, "ka"), (2, "kakari"),
                                              (3, "kakari"), (10, "kakari")])
def test_infer_level_puts_bu_at_the_top_then_ka_then_kakari(depth: int, level: str) -> None:
    assert infer_level(depth) == level
