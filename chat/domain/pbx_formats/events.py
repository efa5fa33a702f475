"""The common model every PBX format's parser produces (docs/pbx.md), and the field
readers the parsers share. Pure: validation names the offending field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.domain.calls import CallEvent, Direction, MissedReason
from chat.domain.numbers import InvalidNumber, Number, normalise

MAX_CALL_ID_CHARS = 128


class InvalidEventField(ValueError):
    """The body is malformed; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PbxEventIn:
    """One call event in the common model, whichever PBX format it came in."""

    type: CallEvent
    call_id: str
    occurred_at: datetime
    direction: Direction
    from_number: Number | None
    to_number: Number | None
    extension: Number | None
    reason: MissedReason | None = None
    caller_name: str | None = None


@dataclass(frozen=True)
class UnknownEvent:
    """A well-formed body whose ``type`` this server does not know: recorded, ignored."""

    type: str
    call_id: str | None


def string_field(body: Mapping[str, Any], name: str, *, required: bool = True,
                 max_chars: int = 200) -> str | None:
    """The string field ``name`` of a parsed body (None when absent and not required);
    raises :class:`InvalidEventField` naming it."""
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidEventField(name, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise InvalidEventField(name, f"{name} must be a string")
    if required and not value.strip():
        raise InvalidEventField(name, f"{name} must not be empty")
    if len(value) > max_chars:
        raise InvalidEventField(name, f"{name} is longer than {max_chars} characters")
    return value


def number_field(body: Mapping[str, Any], name: str, country_code: str, *,
                 required: bool) -> Number | None:
    """The field ``name`` as a normalised number; None for no number (absent, empty or
    anonymous) unless ``required``. Raises :class:`InvalidEventField` naming it."""
    raw = string_field(body, name, required=False, max_chars=100)
    if raw is None:
        if required:
            raise InvalidEventField(name, f"{name} is required")
        return None
    try:
        number = normalise(raw, country_code=country_code)
    except InvalidNumber as exc:
        raise InvalidEventField(name, str(exc)) from None
    if number is None and required:
        raise InvalidEventField(name, f"{name} must be a number")
    return number


def parse_rfc3339(value: str, field: str) -> datetime:
    """An RFC 3339 date-time (§5.6): an offset or ``Z`` is required."""
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InvalidEventField(field, f"{field} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise InvalidEventField(field, f"{field} needs a time zone offset (RFC 3339)")
    return moment
