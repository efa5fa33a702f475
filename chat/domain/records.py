"""What an auditor searches for and what a message record looks like (pure).

A record is one message with every state it went through (its revisions), whoever may
have edited or deleted it since: auditors read what was written, not only what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chat.domain.dates import parse_moment, wire_time_or_none
from chat.domain.roles import RECORDS_KEEPERS

MAX_WORDS = 5
MAX_WORD_CHARS = 100


def may_read_records(role: str) -> bool:
    """Only auditors read other people's messages (separation of duties: admins manage
    users and devices, and cannot read messages at all through this path)."""
    return role in RECORDS_KEEPERS


@dataclass(frozen=True)
class RecordFilters:
    """An auditor's search. Every given filter must match (AND).

    ``start`` is inclusive and ``end`` exclusive (``[start, end)``, on the message's
    creation time, aware UTC). Each of ``words`` must appear as a substring of *some*
    revision of the message (the create, an edit or the delete), so text edited away or
    deleted is found too.
    """

    staff_number: str | None = None
    channel_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    words: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The filters as stored with an export job, shown in its manifest, and recorded
        in the audit log (flat fields; the only text is the words the auditor typed)."""
        return {"user": self.staff_number, "channel_id": self.channel_id,
                "from": _utc(self.start), "to": _utc(self.end), "words": list(self.words)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordFilters:
        """Inverse of :meth:`to_json`; raises ValueError on a malformed value."""
        return parse_filters(user=data.get("user"), channel_id=data.get("channel_id"),
                             since=data.get("from"), until=data.get("to"),
                             words=data.get("words"))


def parse_filters(*, user: object = None, channel_id: object = None, since: object = None,
                  until: object = None, words: object = None) -> RecordFilters:
    """Filters from what a person typed (query string, JSON body, command line).

    ``since`` / ``until`` are RFC 3339 times with an offset, or dates ``YYYY-MM-DD`` taken
    in Japan time: a date ``since`` starts at 00:00 JST that day, a date ``until`` *ends
    with* that day (the bound is 00:00 JST the next day), so ``2026-11-01``..``2026-11-30``
    is all of November. ``words`` is a string split on whitespace (full-width spaces too)
    or a list of strings. Raises ValueError saying which value is wrong.
    """
    staff = _optional_text(user, "user")
    channel = _optional_int(channel_id, "channel_id")
    start = parse_moment(since, name="from", end_of_day=False) if _given(since) else None
    end = parse_moment(until, name="to", end_of_day=True) if _given(until) else None
    if start is not None and end is not None and end <= start:
        raise ValueError("to must be later than from")
    return RecordFilters(staff_number=staff, channel_id=channel, start=start, end=end,
                         words=parse_words(words))


def parse_words(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split()
    elif isinstance(value, list) and all(isinstance(w, str) for w in value):
        items = [part for w in value for part in w.split()]
    else:
        raise ValueError("q must be a string of words")
    words = tuple(dict.fromkeys(items))  # unique, in order
    if len(words) > MAX_WORDS:
        raise ValueError(f"at most {MAX_WORDS} words")
    if any(len(w) > MAX_WORD_CHARS for w in words):
        raise ValueError(f"a word is longer than {MAX_WORD_CHARS} characters")
    return words


def _given(value: object) -> bool:
    return value is not None and value != ""


def _optional_text(value: object, name: str) -> str | None:
    if not _given(value):
        return None
    if not isinstance(value, str) or len(value) > 32:
        raise ValueError(f"{name} must be a staff number")
    return value.strip()


def _optional_int(value: object, name: str) -> int | None:
    if not _given(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"{name} must be an integer")


_utc = wire_time_or_none


# --- records ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    id: int
    staff_number: str
    name: str


@dataclass(frozen=True)
class RevisionRecord:
    revision: int
    action: str  # create | edit | delete
    body: str
    at: datetime
    actor: Person | None


@dataclass(frozen=True)
class MessageRecord:
    """A message as an auditor sees it: where, who, when, and every revision.

    A purged message (retention) keeps its metadata and has no revisions left."""

    id: int
    channel_id: int
    channel_name: str
    channel_kind: str
    seq: int
    sender: Person | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    purged_at: datetime | None
    revisions: tuple[RevisionRecord, ...] = field(default=())

    @property
    def state(self) -> str:
        """``purged``, ``deleted``, ``edited`` or ``live`` (the first that applies)."""
        if self.purged_at is not None:
            return "purged"
        if self.deleted_at is not None:
            return "deleted"
        if self.edited_at is not None:
            return "edited"
        return "live"


def _person_json(person: Person | None) -> dict[str, Any] | None:
    if person is None:
        return None
    return {"id": person.id, "staff_number": person.staff_number, "name": person.name}


def record_json(record: MessageRecord) -> dict[str, Any]:
    """A record for the API and for each line of the JSON Lines export (times in UTC)."""
    return {
        "id": record.id,
        "channel": {"id": record.channel_id, "name": record.channel_name,
                    "kind": record.channel_kind},
        "seq": record.seq,
        "sender": _person_json(record.sender),
        "state": record.state,
        "created_at": _utc(record.created_at),
        "edited_at": _utc(record.edited_at),
        "deleted_at": _utc(record.deleted_at),
        "purged_at": _utc(record.purged_at),
        "revisions": [{"revision": r.revision, "action": r.action, "body": r.body,
                       "at": _utc(r.at), "actor": _person_json(r.actor)}
                      for r in record.revisions],
    }


REASON_MIN, REASON_MAX = 3, 500


def check_reason(value: object) -> str:
    """An auditor's stated reason for a search, a view or an export, stripped; the people
    whose messages are read see it (docs/audit.md, Transparency). Raises ValueError."""
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise ValueError(f"reason must be {REASON_MIN} to {REASON_MAX} characters")
    return text
