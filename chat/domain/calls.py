"""The call model and its state machine, tolerant of events out of order and twice.

A call goes ringing → answered → ended, or ringing → missed (no answer, busy, the caller
hung up), or → voicemail. PBXs deliver these events over HTTP with retries, so they
arrive late, twice, or in the wrong order (``ended`` before ``answered``). The state is
therefore **a function of the set of event types seen**, never of their order:

==========================================  ===========
events seen (any order, any repeats)        state
==========================================  ===========
``voicemail``                               voicemail
``answered`` and (``ended`` or ``missed``)  ended
``missed`` (never answered)                 missed
``ended`` (never answered, no ``missed``)   ended
``answered`` only                           answered
``ringing`` only                            ringing
==========================================  ===========

Applying an event adds it to the set; a repeated event changes nothing. A call ends as
*missed* only when the PBX says so (``call.missed``): an ``ended`` without ``answered``
may just be early (its ``answered`` still on the way), so it never raises a notice.
Timestamps keep the earliest report of each kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class CallEvent(StrEnum):
    RINGING = "call.ringing"
    ANSWERED = "call.answered"
    ENDED = "call.ended"
    MISSED = "call.missed"
    VOICEMAIL = "call.voicemail"


class CallState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    MISSED = "missed"
    VOICEMAIL = "voicemail"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class MissedReason(StrEnum):
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CALLER_CANCELLED = "caller_cancelled"


class CallPresence(StrEnum):
    """What a person's name shows while a call involves them."""

    RINGING = "ringing"
    ON_CALL = "on_call"


TERMINAL = frozenset({CallState.ENDED, CallState.MISSED, CallState.VOICEMAIL})
# States that ask someone to call back (a notice is posted once, on entering one).
NEEDS_CALLBACK = frozenset({CallState.MISSED, CallState.VOICEMAIL})


def state_of(seen: frozenset[CallEvent]) -> CallState:
    """The call's state from the set of event types seen (see the module table)."""
    if CallEvent.VOICEMAIL in seen:
        return CallState.VOICEMAIL
    if CallEvent.ANSWERED in seen:
        if seen & {CallEvent.ENDED, CallEvent.MISSED}:
            return CallState.ENDED
        return CallState.ANSWERED
    if CallEvent.MISSED in seen:
        return CallState.MISSED
    if CallEvent.ENDED in seen:
        return CallState.ENDED
    return CallState.RINGING


def presence_of(state: CallState) -> CallPresence | None:
    if state is CallState.RINGING:
        return CallPresence.RINGING
    if state is CallState.ANSWERED:
        return CallPresence.ON_CALL
    return None


@dataclass(frozen=True)
class Call:
    """A call as the events so far describe it."""

    seen: frozenset[CallEvent] = field(default_factory=frozenset)
    reason: MissedReason | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def state(self) -> CallState:
        return state_of(self.seen)


@dataclass(frozen=True)
class Transition:
    before: CallState | None   # None: the first event of this call
    after: Call

    @property
    def changed(self) -> bool:
        return self.before != self.after.state

    @property
    def needs_callback(self) -> bool:
        """True exactly once per call: when it first enters missed or voicemail."""
        return (self.after.state in NEEDS_CALLBACK
                and (self.before is None or self.before not in NEEDS_CALLBACK))


def _earliest(current: datetime | None, new: datetime) -> datetime:
    return new if current is None or new < current else current


def apply(call: Call | None, event: CallEvent, occurred_at: datetime, *,
          reason: MissedReason | None = None) -> Transition:
    """Add one event to the call (None: a call not seen before). Idempotent: applying
    the same event again yields the same call."""
    before = call.state if call is not None and call.seen else None
    current = call or Call()
    updated = replace(current, seen=current.seen | {event})
    if event is CallEvent.RINGING:
        updated = replace(updated, ringing_at=_earliest(current.ringing_at, occurred_at))
    elif event is CallEvent.ANSWERED:
        updated = replace(updated, answered_at=_earliest(current.answered_at, occurred_at))
    else:
        updated = replace(updated, ended_at=_earliest(current.ended_at, occurred_at))
        if event is CallEvent.MISSED and current.reason is None:
            updated = replace(updated, reason=reason or MissedReason.NO_ANSWER)
    return Transition(before, updated)


def parse_seen(text: str) -> frozenset[CallEvent]:
    return frozenset(CallEvent(part) for part in text.split(",") if part)


def format_seen(seen: frozenset[CallEvent]) -> str:
    return ",".join(sorted(seen))
