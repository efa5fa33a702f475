"""Dates as people type them (a day in Japan time, or an exact RFC 3339 instant), and the
one time format every frame and HTTP answer uses (:func:`wire_time`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# Japan has kept UTC+9 without daylight saving since 1951: a fixed offset is exact and
# needs no time-zone database.
JST = timezone(timedelta(hours=9), "JST")

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_moment(value: object, *, name: str, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` is a day in Japan time (with ``end_of_day``, the day is included: the
    instant is the next midnight); anything else must be RFC 3339 with an offset. UTC out."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 time")
    text = value.strip()
    if _DATE.fullmatch(text):
        try:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=JST)
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a valid date") from None
        return (day + timedelta(days=1) if end_of_day else day).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 time, "
                         f"not {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a UTC offset (e.g. +09:00 or Z)")
    return moment.astimezone(UTC)


def wire_time(moment: datetime) -> str:
    """The one time format on the wire, in frames and HTTP JSON alike: RFC 3339 in UTC with
    ``Z`` and microseconds when there are any (``2026-12-07T01:02:03.456789Z``).
    ``moment`` must be aware (the store's ``UTCDateTime`` always is)."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def wire_time_or_none(moment: datetime | None) -> str | None:
    return wire_time(moment) if moment is not None else None


def japan_time(moment: datetime, *, seconds: bool = False) -> str:
    """A time for people to read (the CLI, the console): Japan time whatever the
    server's zone, ``2026-12-07 19:27`` (with ``seconds``, ``19:27:05``)."""
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S" if seconds else
                                           "%Y-%m-%d %H:%M")
