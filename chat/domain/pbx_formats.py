"""PBX event formats, parsed into one model: the native JSON body and Twilio Voice status
callbacks (docs/pbx.md). Pure: validation names the offending field."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
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


def _string(body: Mapping[str, Any], name: str, *, required: bool = True,
            max_chars: int = 200) -> str | None:
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


def _number(body: Mapping[str, Any], name: str, country_code: str, *,
            required: bool) -> Number | None:
    raw = _string(body, name, required=False, max_chars=100)
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


def parse_native(body: Any, *, country_code: str) -> PbxEventIn | UnknownEvent:
    """The native JSON body (docs/pbx.md). Raises :class:`InvalidEventField`."""
    if not isinstance(body, dict):
        raise InvalidEventField("body", "the body must be a JSON object")
    kind = _string(body, "type", max_chars=64)
    assert kind is not None
    call_id = _string(body, "call_id", max_chars=MAX_CALL_ID_CHARS)
    try:
        event = CallEvent(kind)
    except ValueError:
        return UnknownEvent(kind, call_id)
    assert call_id is not None
    occurred = _string(body, "occurred_at", max_chars=64)
    assert occurred is not None
    direction_raw = _string(body, "direction", max_chars=16)
    try:
        direction = Direction(direction_raw or "")
    except ValueError:
        raise InvalidEventField(
            "direction", "direction must be inbound, outbound or internal") from None
    reason: MissedReason | None = None
    reason_raw = _string(body, "reason", required=False, max_chars=32)
    if reason_raw is not None:
        if event is not CallEvent.MISSED:
            raise InvalidEventField("reason", "reason is only for call.missed")
        try:
            reason = MissedReason(reason_raw)
        except ValueError:
            raise InvalidEventField(
                "reason", "reason must be no_answer, busy or caller_cancelled") from None
    caller_name = (_string(body, "caller_name", required=False, max_chars=100) or "").strip()
    occurred_at = parse_rfc3339(occurred, "occurred_at")
    # "from" may be "anonymous" or "" (no number), but the key itself must be there.
    if "from" not in body:
        raise InvalidEventField("from", "from is required")
    from_number = _number(body, "from", country_code, required=False)
    return PbxEventIn(
        type=event, call_id=call_id, occurred_at=occurred_at, direction=direction,
        from_number=from_number, to_number=_number(body, "to", country_code, required=True),
        extension=_number(body, "extension", country_code, required=True),
        reason=reason, caller_name=caller_name or None)


# --- Twilio Voice status callbacks ---------------------------------------------------------

# CallStatus → our event (Twilio CallInstance.Status; "queued" and "initiated" say nothing
# about the extension yet and are recorded only).
TWILIO_STATUSES: dict[str, tuple[CallEvent, MissedReason | None]] = {
    "ringing": (CallEvent.RINGING, None),
    "in-progress": (CallEvent.ANSWERED, None),
    "answered": (CallEvent.ANSWERED, None),
    "completed": (CallEvent.ENDED, None),
    "failed": (CallEvent.ENDED, None),
    "busy": (CallEvent.MISSED, MissedReason.BUSY),
    "no-answer": (CallEvent.MISSED, MissedReason.NO_ANSWER),
    "canceled": (CallEvent.MISSED, MissedReason.CALLER_CANCELLED),
}


def twilio_delivery_id(params: Mapping[str, str]) -> str:
    """What makes one Twilio callback unique: the call, its status and its sequence
    number (progress events carry ``SequenceNumber``; the final callback may not)."""
    return ":".join((params.get("CallSid", ""), params.get("CallStatus", ""),
                     params.get("SequenceNumber", "")))


def parse_twilio(pairs: Sequence[tuple[str, str]], *, country_code: str,
                 received_at: datetime) -> PbxEventIn | UnknownEvent:
    """A Twilio status callback (form fields) in the common model.

    ``Direction`` ``inbound`` means the extension is ``To`` (the number Twilio received
    the call on, which the directory maps to a person or a desk phone); for
    ``outbound-api`` and ``outbound-dial`` the extension is ``From``. ``Timestamp`` (RFC
    2822) dates the event when present, the arrival time otherwise."""
    params = dict(pairs)
    call_sid = params.get("CallSid", "").strip()
    if not call_sid:
        raise InvalidEventField("CallSid", "CallSid is required")
    if len(call_sid) > MAX_CALL_ID_CHARS:
        raise InvalidEventField("CallSid", "CallSid is too long")
    status = params.get("CallStatus", "").strip()
    if not status:
        raise InvalidEventField("CallStatus", "CallStatus is required")
    mapped = TWILIO_STATUSES.get(status)
    if mapped is None:
        return UnknownEvent(f"twilio.{status}"[:64], call_sid)
    event, reason = mapped
    twilio_direction = params.get("Direction", "inbound")
    direction = Direction.INBOUND if twilio_direction == "inbound" else Direction.OUTBOUND
    from_number = _number(params, "From", country_code, required=False)
    to_number = _number(params, "To", country_code, required=False)
    occurred_at = received_at
    if params.get("Timestamp"):
        try:
            occurred_at = email.utils.parsedate_to_datetime(params["Timestamp"])
        except (TypeError, ValueError):
            raise InvalidEventField("Timestamp", "Timestamp is not an RFC 2822 date") from None
        if occurred_at.tzinfo is None:
            raise InvalidEventField("Timestamp", "Timestamp needs a time zone")
    extension = to_number if direction is Direction.INBOUND else from_number
    if extension is None:
        raise InvalidEventField("To" if direction is Direction.INBOUND else "From",
                                "the number of the city's side is missing")
    caller_name = (params.get("CallerName") or "").strip() or None
    return PbxEventIn(type=event, call_id=call_sid, occurred_at=occurred_at,
                      direction=direction, from_number=from_number, to_number=to_number,
                      extension=extension, reason=reason, caller_name=caller_name)
