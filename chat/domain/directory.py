"""Validating the PBX directory CSV before anything is written (as the staff import does).

Columns: ``number,kind,target,name``.

- ``user`` (職員): ``target`` is the staff number of the person the extension (or
  direct-in number) belongs to. The city reuses PC asset numbers as extensions, so
  ``number`` is kept as typed, leading zeros included.
- ``desk`` (窓口): a desk-group phone shared by a team; ``target`` is the department code
  whose channel gets its missed calls, or ``#<channel id>`` for a group chat; ``name``
  is required (「庶務係 窓口」).
- ``contact`` (外線): an outside number shown by ``name`` when it calls (「県庁 防災課」);
  ``target`` stays empty.

A file with any invalid row is refused whole, every problem listed by line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

from chat.domain.imports import CsvProblems
from chat.domain.numbers import InvalidNumber, normalise

DIRECTORY_COLUMNS = ("number", "kind", "target", "name")
KIND_ALIASES = {"user": "user", "職員": "user", "desk": "desk", "窓口": "desk",
                "contact": "contact", "外線": "contact"}


@dataclass(frozen=True)
class DirectoryRow:
    number: str      # normalised (chat.domain.numbers)
    kind: str        # user | desk | contact
    target: str      # staff number, department code, "#<channel id>", or ""
    name: str


def parse_directory(text: str, *, known_staff: set[str], known_departments: set[str],
                    country_code: str = "81") -> list[DirectoryRow]:
    """Rows of a directory CSV, or :class:`CsvProblems` naming every bad line."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    missing = {"number", "kind"} - set(reader.fieldnames or [])
    if missing:
        raise CsvProblems([f"header: missing columns {', '.join(sorted(missing))} "
                           f"(expected {', '.join(DIRECTORY_COLUMNS)})"])
    rows: list[DirectoryRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        cell = {k: (raw.get(k) or "").strip() for k in DIRECTORY_COLUMNS}
        try:
            number = normalise(cell["number"], country_code=country_code)
        except InvalidNumber as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if number is None:
            problems.append(f"line {line}: number is empty")
            continue
        if number.value in seen:
            problems.append(f"line {line}: number {number.value} already on line "
                            f"{seen[number.value]}")
            continue
        seen[number.value] = line
        kind = KIND_ALIASES.get(cell["kind"].lower())
        target, name = cell["target"], cell["name"]
        if kind is None:
            problems.append(f"line {line}: kind {cell['kind']!r} is not user, desk or "
                            "contact (職員/窓口/外線)")
            continue
        if len(name) > 100:
            problems.append(f"line {line}: name is longer than 100 characters")
        if kind == "user" and target not in known_staff:
            problems.append(f"line {line}: staff number {target!r} does not exist")
        elif kind == "desk":
            if not name:
                problems.append(f"line {line}: a desk phone needs a name")
            if target.startswith("#"):
                if not target[1:].isdigit():
                    problems.append(f"line {line}: channel {target!r} is not #<number>")
            elif target not in known_departments:
                problems.append(f"line {line}: department {target!r} does not exist")
        elif kind == "contact":
            if not name:
                problems.append(f"line {line}: a contact needs a name")
            if number.is_extension:
                problems.append(f"line {line}: a contact is an outside number, not an "
                                "extension")
        rows.append(DirectoryRow(number.value, kind, target, name))
    if problems:
        raise CsvProblems(problems)
    return rows


@dataclass(frozen=True)
class DirectoryTarget:
    """A directory entry as stored: its row with the target resolved to ids."""

    kind: str
    user_id: int | None
    channel_id: int | None
    name: str


@dataclass(frozen=True)
class DirectoryDiff:
    """What making the directory exactly a file's rows changes, numbers sorted."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.updated or self.removed)


def diff_directory(desired: Mapping[str, DirectoryTarget],
                   current: Mapping[str, DirectoryTarget]) -> DirectoryDiff:
    """The rule the directory import applies and its preview shows: numbers only in the
    file are added, numbers in both whose entry differs are updated, numbers no longer
    listed are removed."""
    added = sorted(set(desired) - set(current))
    removed = sorted(set(current) - set(desired))
    both = sorted(set(desired) & set(current))
    updated = [n for n in both if desired[n] != current[n]]
    return DirectoryDiff(tuple(added), tuple(updated), tuple(removed),
                         len(both) - len(updated))
