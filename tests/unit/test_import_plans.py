"""What an import would change, computed once for the preview and the import alike
(chat/domain/imports.py plan_staff_import, chat/domain/directory.py diff_directory)."""

from __future__ import annotations

from chat.domain.directory import DirectoryTarget, diff_directory
from chat.domain.imports import StaffRecord, parse_staff, plan_staff_import

HEADER = "staff_number,name,kana,department_code,role,extension,active\n"
DEPARTMENTS = {"111": 3, "121": 6}
SUZUKI = StaffRecord(name="鈴木 花子", kana="すずき はなこ", department_id=3, role="staff",
                     extension="2101", active=True)


def plan(csv_rows: str, current: dict[str, StaffRecord]) -> dict[str, str]:
    rows = parse_staff(HEADER + csv_rows, known_departments=set(DEPARTMENTS))
    return {c.staff_number: c.kind for c in plan_staff_import(rows, current, DEPARTMENTS)}


def test_a_person_in_another_department_is_moved_even_when_the_role_changes_too() -> None:
    rows = parse_staff(HEADER + "1002,鈴木 花子,すずき はなこ,121,manager,2101,1\n",
                       known_departments=set(DEPARTMENTS))
    [change] = plan_staff_import(rows, {"1002": SUZUKI}, DEPARTMENTS)
    assert change.kind == "moved" and change.moved and change.role_changed
    assert change.after.department_id == 6 and change.before == SUZUKI


def test_each_row_gets_exactly_one_kind() -> None:
    assert plan("1002,鈴木 花子,すずき はなこ,111,staff,2101,1\n"
                "1003,高橋 健,,111,staff,,1\n", {"1002": SUZUKI}) == {
        "1002": "unchanged", "1003": "created"}
    assert plan("1002,鈴木 花子,すずき はなこ,111,staff,2101,0\n",
                {"1002": SUZUKI}) == {"1002": "deactivated"}
    assert plan("1002,鈴木 花子,すずき はなこ,111,staff,2109,1\n",
                {"1002": SUZUKI}) == {"1002": "updated"}


def test_the_directory_diff_adds_updates_and_removes_by_number() -> None:
    desk = DirectoryTarget(kind="desk", user_id=None, channel_id=7, name="防災係 窓口")
    person = DirectoryTarget(kind="user", user_id=2, channel_id=None, name="")
    diff = diff_directory({"2101": person, "2900": desk},
                          {"2101": person, "2900": DirectoryTarget("desk", None, 8, "旧"),
                           "2999": desk})
    assert (diff.added, diff.updated, diff.removed, diff.unchanged) == (
        (), ("2900",), ("2999",), 1)
    assert diff_directory({"1": person}, {"1": person}).empty
