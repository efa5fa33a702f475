"""Validating the city's CSV files (departments, staff) before anything is written.

A file with any invalid row is refused whole, with every problem listed by line, so an
import either applies completely or not at all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from chat.domain.orgchart import LEVEL_LABELS, LEVELS
from chat.domain.roles import Role, parse_role

DEPARTMENT_COLUMNS = ("code", "name", "kana", "parent_code", "level")
STAFF_COLUMNS = ("staff_number", "name", "kana", "department_code", "role", "extension",
                 "active")
_LEVEL_ALIASES = {**{v: k for k, v in LEVEL_LABELS.items()}, **{k: k for k in LEVELS}}
_TRUE = {"1", "true", "yes", "y", "はい", "有効", ""}
_FALSE = {"0", "false", "no", "n", "いいえ", "無効"}


class CsvProblems(ValueError):
    """Every problem found in a file, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DepartmentRow:
    code: str
    name: str
    kana: str
    parent_code: str | None
    level: str


@dataclass(frozen=True)
class StaffRow:
    staff_number: str
    name: str
    kana: str
    department_code: str | None
    role: Role
    extension: str | None
    active: bool


def _reader(text: str, columns: Iterable[str], required: set[str]) -> csv.DictReader[str]:
    text = text.removeprefix("\ufeff")  # Excel writes a BOM
    reader = csv.DictReader(io.StringIO(text))
    header = set(reader.fieldnames or [])
    missing = required - header
    if missing:
        raise CsvProblems([f"header: missing columns {', '.join(sorted(missing))} "
                           f"(expected {', '.join(columns)})"])
    return reader


def _cell(row: dict[str, str | None], key: str) -> str:
    return (row.get(key) or "").strip()


def parse_departments(text: str) -> list[DepartmentRow]:
    reader = _reader(text, DEPARTMENT_COLUMNS, {"code", "name", "parent_code"})
    rows: list[DepartmentRow] = []
    problems: list[str] = []
    seen: set[str] = set()
    for raw in reader:
        # The physical line the row ends on: DictReader skips blank lines and a quoted
        # cell may span lines, so counting rows would point the clerk at the wrong line.
        line = reader.line_num
        code, name = _cell(raw, "code"), _cell(raw, "name")
        parent = _cell(raw, "parent_code") or None
        level_raw = _cell(raw, "level")
        if not code:
            problems.append(f"line {line}: code is empty")
            continue
        if code in seen:
            problems.append(f"line {line}: department {code} appears twice")
            continue
        seen.add(code)
        if not name:
            problems.append(f"line {line}: name is empty")
        if parent == code:
            problems.append(f"line {line}: department {code} is its own parent")
        level = _LEVEL_ALIASES.get(level_raw, "") if level_raw else ""
        if level_raw and not level:
            problems.append(f"line {line}: level {level_raw!r} is not 部/課/係 (bu/ka/kakari)")
        rows.append(DepartmentRow(code, name, _cell(raw, "kana"), parent, level))
    for row in rows:
        if row.parent_code and row.parent_code not in seen:
            problems.append(f"department {row.code}: parent {row.parent_code} is not in the file")
    if problems:
        raise CsvProblems(problems)
    return rows


def parse_staff(text: str, *, known_departments: set[str]) -> list[StaffRow]:
    reader = _reader(text, STAFF_COLUMNS, {"staff_number", "name", "department_code"})
    rows: list[StaffRow] = []
    problems: list[str] = []
    seen: set[str] = set()
    for raw in reader:
        # The physical line the row ends on: DictReader skips blank lines and a quoted
        # cell may span lines, so counting rows would point the clerk at the wrong line.
        line = reader.line_num
        number, name = _cell(raw, "staff_number"), _cell(raw, "name")
        dept = _cell(raw, "department_code") or None
        if not number:
            problems.append(f"line {line}: staff_number is empty")
            continue
        if number in seen:
            problems.append(f"line {line}: staff number {number} appears twice")
            continue
        seen.add(number)
        if not name:
            problems.append(f"line {line}: name is empty")
        if dept is not None and dept not in known_departments:
            problems.append(f"line {line}: department {dept} does not exist")
        role: Role | None = None
        try:
            role = parse_role(_cell(raw, "role") or "staff")
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
        active_raw = _cell(raw, "active").lower()
        if active_raw not in _TRUE | _FALSE:
            problems.append(f"line {line}: active must be 1 or 0, not {active_raw!r}")
        if role is None or problems:
            continue
        rows.append(StaffRow(number, name, _cell(raw, "kana"), dept, role,
                             _cell(raw, "extension") or None, active_raw in _TRUE))
    if problems:
        raise CsvProblems(problems)
    return rows


# --- what a staff import would change (shared by the preview and the import) ----------

ChangeKind = Literal["created", "moved", "deactivated", "updated", "unchanged"]


@dataclass(frozen=True)
class StaffRecord:
    """A person's fields an import sets, as stored (``department_id``, not the code)."""

    name: str
    kana: str
    department_id: int | None
    role: str
    extension: str | None
    active: bool


@dataclass(frozen=True)
class StaffChange:
    """What one row of a staff file does to its person. ``before`` is None for a person
    the file creates. ``kind`` is the one word the import report counts it under: a
    person who moves *and* changes role counts as ``moved``."""

    staff_number: str
    kind: ChangeKind
    before: StaffRecord | None
    after: StaffRecord

    @property
    def role_changed(self) -> bool:
        return self.before is not None and self.before.role != self.after.role

    @property
    def moved(self) -> bool:
        return self.before is not None and self.before.department_id != self.after.department_id

    @property
    def active_changed(self) -> bool:
        return self.before is not None and self.before.active != self.after.active


def plan_staff_import(rows: Sequence[StaffRow], current: Mapping[str, StaffRecord],
                      department_ids: Mapping[str, int]) -> list[StaffChange]:
    """One change per row, in file order: the rule :func:`chat.actions.orgchart.import_staff`
    applies and the console's preview shows, so the two never disagree. ``current`` maps
    staff numbers to stored people; ``department_ids`` maps department codes to ids (a
    code missing there raises KeyError: validate the file first)."""
    changes: list[StaffChange] = []
    for row in rows:
        after = StaffRecord(
            name=row.name, kana=row.kana,
            department_id=department_ids[row.department_code] if row.department_code else None,
            role=row.role.value, extension=row.extension, active=row.active)
        before = current.get(row.staff_number)
        kind: ChangeKind
        if before is None:
            kind = "created"
        elif before == after:
            kind = "unchanged"
        elif before.department_id != after.department_id:
            kind = "moved"
        elif before.active and not after.active:
            kind = "deactivated"
        else:
            kind = "updated"
        changes.append(StaffChange(row.staff_number, kind, before, after))
    return changes


def infer_level(depth: int) -> str:
    """部 at the top, 課 below, 係 below that (and anything deeper)."""
    return LEVELS[min(depth, len(LEVELS) - 1)]
