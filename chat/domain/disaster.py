"""Disasters and drills (pure): what a declaration says, who may make one, and what every
phone's banner shows.

One disaster (or drill, 訓練) is active at a time. While it is, the off-hours limit is
lifted for everyone, the HQ channel (災害対策本部) exists with the members the city
configured, and every client shows a banner; a drill's banner and every record made
during it say 訓練 plainly, so a drill can never be taken for the real thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.domain.dates import wire_time, wire_time_or_none
from chat.domain.roles import DISASTER_DECLARERS

MAX_NAME_CHARS = 60
HQ_CHANNEL_SLUG = "disaster-hq"
HQ_CHANNEL_NAME = "災害対策本部"
DRILL_LABEL = "訓練"


class DisasterRuleError(ValueError):
    """A declaration that breaks a rule; the message says which, in English."""


def may_declare(role: str) -> bool:
    return role in DISASTER_DECLARERS


def clean_name(name: str) -> str:
    """The disaster's name as people will read it (e.g. 「令和8年台風第10号」)."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise DisasterRuleError("A disaster needs a name")
    if len(cleaned) > MAX_NAME_CHARS:
        raise DisasterRuleError(f"The name is longer than {MAX_NAME_CHARS} characters")
    return cleaned


@dataclass(frozen=True)
class DisasterState:
    """A declared disaster or drill, as the banner and the records show it."""

    id: int
    name: str
    drill: bool
    declared_at: datetime
    declared_by: str
    ended_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @property
    def title(self) -> str:
        """「【訓練】令和8年台風第10号」 for a drill, the name alone for the real thing."""
        return f"【{DRILL_LABEL}】{self.name}" if self.drill else self.name

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "drill": self.drill, "title": self.title,
                "declared_at": wire_time(self.declared_at), "declared_by": self.declared_by,
                "ended_at": wire_time_or_none(self.ended_at)}
