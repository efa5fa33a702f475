"""A field report (被害報告): what a member of staff saw in a disaster, posted from the
phone into the HQ channel (災害対策本部) with photos and, only when they tapped to attach
it, their position. ``chat.actions.reports`` validates and stores it; its follow-up
(新規 → 確認済 → 対応中 → 完了) lives in the ``field_reports`` row and is shown on the card.

The card on the wire never carries the position (``has_position`` only): the HQ board
reads positions through an audited route, so who looked where stays on record. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from chat.domain.cards import Card, Sender, Stored, register
from chat.domain.dates import wire_time, wire_time_or_none
from chat.domain.kinds import MessageKind
from chat.domain.notices import Person, local_time

MAX_NOTE_CHARS = 200
MAX_PHOTOS = 4
# A phone's fix better than a metre is noise; worse than 10 km says nothing useful.
MAX_ACCURACY_M = 10_000.0


class ReportRuleError(ValueError):
    """A report that breaks a rule; the message names the field, in English."""


class Category(StrEnum):
    FLOOD = "flood"
    LANDSLIDE = "landslide"
    ROAD = "road"
    BUILDING = "building"
    FIRE = "fire"
    INJURED = "injured"
    OTHER = "other"


CATEGORY_JA = {
    Category.FLOOD: "浸水", Category.LANDSLIDE: "土砂崩れ", Category.ROAD: "道路",
    Category.BUILDING: "建物", Category.FIRE: "火災", Category.INJURED: "負傷者",
    Category.OTHER: "その他",
}


class Severity(IntEnum):
    MINOR = 1
    MODERATE = 2
    SEVERE = 3


SEVERITY_JA = {Severity.MINOR: "軽微", Severity.MODERATE: "中程度", Severity.SEVERE: "深刻"}


class ReportStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    DONE = "done"


STATUS_JA = {
    ReportStatus.NEW: "新規", ReportStatus.ACKNOWLEDGED: "確認済",
    ReportStatus.IN_PROGRESS: "対応中", ReportStatus.DONE: "完了",
}


@dataclass(frozen=True)
class Position:
    """Where the phone was when the person tapped 「位置を添付」 (WGS 84)."""

    lat: float
    lon: float
    accuracy_m: float

    def wire(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon, "accuracy_m": self.accuracy_m}


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise ReportRuleError(f"position.{field} must be a number")
    return float(value)


def parse_position(value: object) -> Position | None:
    """``{lat, lon, accuracy_m}`` or None; raises ReportRuleError for anything out of
    range (a latitude beyond ±90, a longitude beyond ±180, an accuracy not in
    0..10 km)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReportRuleError("position must be an object {lat, lon, accuracy_m}")
    lat = _number(value.get("lat"), "lat")
    lon = _number(value.get("lon"), "lon")
    accuracy = _number(value.get("accuracy_m"), "accuracy_m")
    if not -90 <= lat <= 90:
        raise ReportRuleError("position.lat must be between -90 and 90")
    if not -180 <= lon <= 180:
        raise ReportRuleError("position.lon must be between -180 and 180")
    if not 0 <= accuracy <= MAX_ACCURACY_M:
        raise ReportRuleError(f"position.accuracy_m must be between 0 and {MAX_ACCURACY_M:g}")
    return Position(round(lat, 6), round(lon, 6), round(accuracy, 1))


def parse_category(value: object) -> Category:
    try:
        return Category(str(value))
    except ValueError:
        raise ReportRuleError(
            f"category must be one of {', '.join(c.value for c in Category)}") from None


def parse_severity(value: object) -> Severity:
    try:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        return Severity(value)
    except ValueError:
        raise ReportRuleError("severity must be 1, 2 or 3") from None


def parse_status(value: object) -> ReportStatus:
    try:
        return ReportStatus(str(value))
    except ValueError:
        raise ReportRuleError(
            f"status must be one of {', '.join(s.value for s in ReportStatus)}") from None


def clean_note(value: str) -> str:
    note = " ".join(value.split())
    if len(note) > MAX_NOTE_CHARS:
        raise ReportRuleError(f"note is longer than {MAX_NOTE_CHARS} characters")
    return note


@dataclass(frozen=True)
class StatusChange:
    status: ReportStatus
    by: Person | None = None
    at: datetime | None = None

    def card(self) -> dict[str, Any]:
        return {"status": self.status.value, "status_label": STATUS_JA[self.status],
                "status_by": self.by.card() if self.by else None,
                "status_at": wire_time_or_none(self.at)}


@dataclass(frozen=True)
class FieldReport:
    category: Category
    severity: Severity
    note: str
    position: Position | None
    taken_at: datetime
    reporter: Person
    drill: bool
    photo_ids: tuple[int, ...] = ()

    def body(self) -> str:
        """The searchable text, e.g.
        「【訓練】被害報告：浸水（深刻）<note>（報告 名前 12月7日 10:05）」."""
        drill = "【訓練】" if self.drill else ""
        note = self.note
        return (f"{drill}被害報告：{CATEGORY_JA[self.category]}"
                f"（{SEVERITY_JA[self.severity]}）{note}"
                f"（報告 {self.reporter.name} {local_time(self.taken_at)}）")

    def card(self, status: StatusChange) -> dict[str, Any]:
        return {"category": self.category.value, "category_label": CATEGORY_JA[self.category],
                "severity": int(self.severity), "severity_label": SEVERITY_JA[self.severity],
                "note": self.note, "has_position": self.position is not None,
                "taken_at": wire_time(self.taken_at), "reporter": self.reporter.card(),
                "drill": self.drill, "photos": list(self.photo_ids), **status.card()}


REPORT = register(Card(kind=MessageKind.REPORT, sender=Sender.PERSON,
                       stores=frozenset({Stored.DATA}), push_label="被害報告"))
