"""Filters for reading the audit log (the console's 監査ログ page and ``tsunagu audit
log``): what a person typed, checked once, as the store's query takes it.

Pure: no I/O. Staff numbers stay staff numbers here; the action resolves them to users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from chat.domain.audit_actions import AuditAction
from chat.domain.dates import parse_moment

# The outcomes entries are written with (chat.audit.record callers).
OUTCOMES = ("ok", "refused", "failed", "ignored")
MAX_PAGE = 200
DEFAULT_PAGE = 50
# An action name or a prefix of one: "session.signed_in", "session." or "session".
_ACTION = re.compile(r"[a-z_]+(\.[a-z_]*)?")


@dataclass(frozen=True)
class AuditLogFilters:
    """``action`` is an exact action name, or (``action_prefix``) the names starting with
    it; ``start`` is inclusive and ``end`` exclusive (UTC); None means any."""

    action: str | None = None
    action_prefix: bool = False
    actor: str | None = None        # staff number
    subject: str | None = None      # staff number
    start: datetime | None = None
    end: datetime | None = None
    outcome: str | None = None

    def as_detail(self) -> dict[str, str]:
        """The filters as the audit entry of the view records them (given ones only),
        named ``filter_*`` (``action`` and ``outcome`` are the entry's own fields)."""
        given = {
            "action": (self.action + "*" if self.action_prefix else self.action)
            if self.action else None,
            "actor": self.actor, "subject": self.subject,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "outcome": self.outcome,
        }
        return {f"filter_{k}": v for k, v in given.items() if v}


def _text(value: object, name: str, *, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise ValueError(f"{name} must be at most {limit} characters")
    return value.strip() or None


def parse_log_filters(*, action: object = None, actor: object = None, subject: object = None,
                      since: object = None, until: object = None,
                      outcome: object = None) -> AuditLogFilters:
    """Filters from a query string or the command line.

    ``action``: a full name (``session.signed_in``) matches it exactly; a name ending in
    ``*`` or ``.``, or one with no dot (``session``), is a prefix (every ``session.*``).
    ``since``/``until``: ``YYYY-MM-DD`` in Japan time (``until`` includes the day) or
    RFC 3339. ``actor``/``subject``: staff numbers. Raises ValueError naming the value.
    """
    name = _text(action, "action", limit=64)
    prefix = False
    if name is not None:
        name = name.lower()
        if name.endswith("*"):
            name, prefix = name[:-1], True
        if not _ACTION.fullmatch(name):
            raise ValueError(f"action {name!r} is not an audit action name or prefix")
        if name.endswith(".") or "." not in name:
            prefix = True
        elif name not in {a.value for a in AuditAction} and not prefix:
            raise ValueError(f"no audit action is named {name!r}")
        if prefix and "." not in name:
            name += "."
    start = parse_moment(since, name="from") if since not in (None, "") else None
    end = parse_moment(until, name="to", end_of_day=True) if until not in (None, "") else None
    if start is not None and end is not None and end <= start:
        raise ValueError("to must be later than from")
    chosen = _text(outcome, "outcome", limit=16)
    if chosen is not None and chosen not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    return AuditLogFilters(action=name, action_prefix=prefix,
                           actor=_text(actor, "actor", limit=32),
                           subject=_text(subject, "subject", limit=32),
                           start=start, end=end, outcome=chosen)


def page_size(value: object) -> int:
    """A page size from 1 to :data:`MAX_PAGE` (default :data:`DEFAULT_PAGE`)."""
    if value is None or value == "":
        return DEFAULT_PAGE
    try:
        size = int(str(value))
    except ValueError:
        raise ValueError("limit must be a number") from None
    if not 1 <= size <= MAX_PAGE:
        raise ValueError(f"limit must be from 1 to {MAX_PAGE}")
    return size


def parse_before(value: object) -> int | None:
    """The keyset cursor: entries with ids below this one (None: from the newest)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 19:
        raise ValueError("before must be an entry id")
    return int(text)
