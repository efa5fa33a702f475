"""Safety roll calls (安否確認), pure: the four answers, what an answer may hold, the
tally by department that HQ watches, and the CSV of the result.

Everyone answers with one tap (無事 / 無事・出勤できない / 負傷 / 出勤可能), may add a
short note, and only if they choose a position. The tally groups people by their
department and the 部 above it (the org chart); who has not answered is listed by name,
since that list is what HQ acts on (a reminder, a phone call).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeGuard

from chat.domain.dates import wire_time, wire_time_or_none
from chat.domain.disaster import DRILL_LABEL
from chat.domain.export import jst, safe_cell
from chat.domain.roles import DISASTER_DECLARERS

MAX_TEXT_CHARS = 400
MAX_NOTE_CHARS = 200
MAX_DEADLINE_MINUTES = 7 * 24 * 60
ROLLCALL_LABEL = "安否確認"


class RollCallStatus(StrEnum):
    SAFE = "safe"
    SAFE_CANNOT_COME = "safe_cannot_come"
    INJURED = "injured"
    CAN_COME = "can_come"


STATUS_JA = {
    RollCallStatus.SAFE: "無事",
    RollCallStatus.SAFE_CANNOT_COME: "無事・出勤できない",
    RollCallStatus.INJURED: "負傷",
    RollCallStatus.CAN_COME: "出勤可能",
}
NOT_ANSWERED_JA = "未回答"


class RollCallRuleError(ValueError):
    """An answer or a start that breaks a rule; the message says which, in English."""


def may_run(role: str) -> bool:
    """The roles that run roll calls wherever they are (HQ members may too)."""
    return role in DISASTER_DECLARERS


def title(*, drill: bool) -> str:
    """「安否確認」, or 「【訓練】安否確認」 for a drill's."""
    return f"【{DRILL_LABEL}】{ROLLCALL_LABEL}" if drill else ROLLCALL_LABEL


def clean_text(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise RollCallRuleError("A roll call needs a message")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise RollCallRuleError(f"The message is longer than {MAX_TEXT_CHARS} characters")
    return cleaned


def check_deadline_minutes(minutes: object) -> int | None:
    if minutes is None:
        return None
    if isinstance(minutes, bool) or not isinstance(minutes, int) \
            or not 0 < minutes <= MAX_DEADLINE_MINUTES:
        raise RollCallRuleError(
            f"deadline_minutes must be a whole number from 1 to {MAX_DEADLINE_MINUTES}")
    return minutes


def parse_status(value: object) -> RollCallStatus:
    try:
        return RollCallStatus(str(value))
    except ValueError:
        allowed = ", ".join(s.value for s in RollCallStatus)
        raise RollCallRuleError(f"status must be one of: {allowed}") from None


def clean_note(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RollCallRuleError("note must be text")
    note = " ".join(value.split())
    if len(note) > MAX_NOTE_CHARS:
        raise RollCallRuleError(f"The note is longer than {MAX_NOTE_CHARS} characters")
    return note


@dataclass(frozen=True)
class Position:
    """Where a person was when they answered, only if they attached it: micro-degrees
    (WGS 84) and the accuracy the phone reported, in metres."""

    latitude_e6: int
    longitude_e6: int
    accuracy_m: int | None

    def wire(self) -> dict[str, Any]:
        return {"lat": self.latitude_e6 / 1e6, "lon": self.longitude_e6 / 1e6,
                "accuracy": self.accuracy_m}


def parse_position(value: object) -> Position | None:
    """``{lat, lon, accuracy?}`` as the browser's Geolocation API gives it, or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RollCallRuleError("position must be an object with lat and lon")
    lat, lon, accuracy = value.get("lat"), value.get("lon"), value.get("accuracy")
    if not (_finite(lat) and _finite(lon)):
        raise RollCallRuleError("position.lat and position.lon must be degrees")
    lat_f, lon_f = float(lat), float(lon)
    if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
        raise RollCallRuleError("position.lat and position.lon must be degrees")
    accuracy_m = None
    if accuracy is not None:
        if not _finite(accuracy) or float(accuracy) < 0:
            raise RollCallRuleError("position.accuracy must be metres")
        accuracy_m = round(float(accuracy))
    return Position(round(lat_f * 1e6), round(lon_f * 1e6), accuracy_m)


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


# --- the tally -----------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """Someone the roll call asks: an active member of staff, placed in the org chart
    (``department`` their own 課/係, ``bu`` the 部 above it; empty when unplaced)."""

    id: int
    name: str
    staff_number: str
    department: str
    bu: str
    sort_key: tuple[int, ...]


@dataclass(frozen=True)
class Answer:
    user_id: int
    status: RollCallStatus
    note: str
    position: Position | None
    answered_at: datetime

    def wire(self) -> dict[str, Any]:
        return {"status": self.status.value, "label": STATUS_JA[self.status],
                "note": self.note,
                "position": self.position.wire() if self.position else None,
                "answered_at": wire_time(self.answered_at)}


@dataclass(frozen=True)
class RollCallInfo:
    id: int
    text: str
    drill: bool
    deadline: datetime | None
    started_at: datetime
    started_by: str
    ended_at: datetime | None
    message_id: int | None
    channel_id: int | None

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "title": title(drill=self.drill), "text": self.text,
                "drill": self.drill, "deadline": wire_time_or_none(self.deadline),
                "started_at": wire_time(self.started_at), "started_by": self.started_by,
                "ended_at": wire_time_or_none(self.ended_at),
                "message_id": self.message_id, "channel_id": self.channel_id}


def place_people(users: Iterable[tuple[int, str, str, int | None]],
                 departments: Mapping[int, tuple[str, str, int | None, int]]
                 ) -> list[Person]:
    """People ``(id, name, staff_number, department_id)`` placed in the org chart
    (``departments``: id → (name, level, parent id, sort order)), in org-chart order."""
    def chain(department_id: int | None) -> list[int]:
        found: list[int] = []
        while department_id is not None and department_id in departments \
                and department_id not in found:
            found.append(department_id)
            department_id = departments[department_id][2]
        return found

    people = []
    for user_id, name, staff_number, department_id in users:
        lineage = chain(department_id)
        top = lineage[-1] if lineage else None
        bu = departments[top][0] if top is not None and departments[top][1] == "bu" else ""
        own = departments[lineage[0]][0] if lineage else ""
        order = tuple(departments[d][3] for d in reversed(lineage))
        people.append(Person(user_id, name, staff_number, own, bu,
                             (0 if lineage else 1, *order, *(lineage[::-1]))))
    return sorted(people, key=lambda p: (p.sort_key, p.staff_number))


def _counts(statuses: Iterable[RollCallStatus | None]) -> dict[str, int]:
    counts = {s.value: 0 for s in RollCallStatus}
    missing = 0
    for status in statuses:
        if status is None:
            missing += 1
        else:
            counts[status.value] += 1
    return {**counts, "unanswered": missing}


def tally(info: RollCallInfo, people: Sequence[Person],
          answers: Mapping[int, Answer]) -> dict[str, Any]:
    """What HQ sees (the ``rollcall.tally`` frame, the HQ page, ``rollcall status``):
    the totals, one row per department (with its 部) in org-chart order, and who has
    not answered. Answers of people no longer active are left out."""
    rows: dict[tuple[str, str], list[RollCallStatus | None]] = {}
    for person in people:
        answer = answers.get(person.id)
        rows.setdefault((person.bu, person.department), []).append(
            answer.status if answer else None)
    everyone = [answers[p.id].status if p.id in answers else None for p in people]
    totals = _counts(everyone)
    return {
        "rollcall": info.wire(),
        "total": len(people),
        "answered": len(people) - totals["unanswered"],
        "counts": totals,
        "departments": [{"bu": bu, "department": department, "total": len(statuses),
                         "counts": _counts(statuses)}
                        for (bu, department), statuses in rows.items()],
        "unanswered": [{"user_id": p.id, "name": p.name, "department": p.department,
                        "bu": p.bu} for p in people if p.id not in answers],
    }


def tally_lines(result: Mapping[str, Any]) -> list[str]:
    """The tally as plain text lines (``tsunagu rollcall status``)."""
    info = result["rollcall"]
    labels = [STATUS_JA[s] for s in RollCallStatus] + [NOT_ANSWERED_JA]
    keys = [s.value for s in RollCallStatus] + ["unanswered"]
    lines = [f"{info['title']} #{info['id']}: {info['text']}",
             f"回答 {result['answered']}/{result['total']}  "
             + "  ".join(f"{label} {result['counts'][k]}" for label, k in zip(
                 labels, keys, strict=True))]
    for row in result["departments"]:
        parts = [row["bu"]] if row["bu"] != row["department"] else []
        where = " ".join(p for p in (*parts, row["department"]) if p) or "（所属なし）"
        lines.append(f"  {where}: " + "  ".join(
            f"{label} {row['counts'][k]}" for label, k in zip(labels, keys, strict=True)))
    if result["unanswered"]:
        lines.append(f"{NOT_ANSWERED_JA}: " + "、".join(
            f"{p['name']}（{p['department'] or '所属なし'}）" for p in result["unanswered"]))
    return lines


CSV_HEADER = ("bu", "department", "name", "staff_number", "status", "status_label",
              "note", "answered_at_jst", "latitude", "longitude", "accuracy_m")


def csv_rows(people: Sequence[Person], answers: Mapping[int, Answer]) -> list[tuple[str, ...]]:
    """One row per person (those who have not answered too, as 未回答), in org-chart
    order; cells made safe for Excel, times in Japan time, a position only if given."""
    rows = []
    for p in people:
        a = answers.get(p.id)
        pos = a.position if a else None
        raw = (p.bu, p.department, p.name, p.staff_number,
               a.status.value if a else "unanswered",
               STATUS_JA[a.status] if a else NOT_ANSWERED_JA,
               a.note if a else "", jst(a.answered_at) if a else "",
               f"{pos.latitude_e6 / 1e6:.6f}" if pos else "",
               f"{pos.longitude_e6 / 1e6:.6f}" if pos else "",
               str(pos.accuracy_m) if pos and pos.accuracy_m is not None else "")
        rows.append(tuple(safe_cell(cell) for cell in raw))
    return rows
