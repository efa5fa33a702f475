"""Twilio Voice status callbacks (docs/pbx.md §4), posted as a form to
``/pbx/twilio/status`` and signed with the account's Auth Token (``X-Twilio-Signature``).

The signature check is our own code, not the ``twilio`` SDK's ``RequestValidator``: the
SDK is a large package (the whole REST client) that we would ship for one HMAC-SHA1, so it
is only a test extra, and the tests check that what it signs is what we accept.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from chat.domain.calls import CallEvent, Direction, MissedReason
from chat.domain.pbx_formats.events import (
    MAX_CALL_ID_CHARS,
    InvalidEventField,
    PbxEventIn,
    UnknownEvent,
    number_field,
)
from chat.domain.pbx_formats.registry import (
    PbxFormat,
    SignatureRejected,
    SigningKey,
    WebhookDelivery,
    register,
)

MAX_AUTH_TOKEN_CHARS = 200

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
    from_number = number_field(params, "From", country_code, required=False)
    to_number = number_field(params, "To", country_code, required=False)
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


# --- the signature ------------------------------------------------------------------------

def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the Auth Token, over
    the full URL Twilio requested followed by each POST parameter as ``name + value``,
    names sorted, several values of one name sorted too (Twilio, "Validating Signatures
    from Twilio"; ``RequestValidator.compute_signature``)."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    data = url + "".join(name + value for name in sorted(grouped)
                         for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """The URL as given, without its default port, and with it: Twilio's validator
    accepts a signature over either form."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url]
    if parts.port is not None and parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    elif parts.port is None and default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return variants


def verify_twilio(tokens: Sequence[SigningKey], *, url: str,
                  params: Sequence[tuple[str, str]], signature: str | None) -> str:
    """Check ``X-Twilio-Signature``; return the name of the Auth Token that signed it.
    ``tokens`` hold the token's UTF-8 bytes as ``key`` (primary and secondary token may
    both be active). Raises :class:`SignatureRejected`."""
    if not signature:
        raise SignatureRejected("missing X-Twilio-Signature")
    for token in tokens:
        for candidate in _port_variants(url):
            expected = twilio_signature(token.key.decode(), candidate, params)
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return token.name
    raise SignatureRejected("no valid signature")


def form_fields(body: bytes) -> list[tuple[str, str]] | None:
    """The callback's form fields in order (a name may repeat), or None when the body is
    not a UTF-8 form."""
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        return None


def _verify(keys: Sequence[SigningKey], delivery: WebhookDelivery, /, *, now: float,
            tolerance: float) -> str:
    # Twilio signs no timestamp: ``now`` and ``tolerance`` do not apply. A body that is no
    # form is checked as no fields, so an unsigned one is refused before it is parsed.
    return verify_twilio(keys, url=delivery.url, params=form_fields(delivery.body) or [],
                         signature=delivery.headers.get("x-twilio-signature"))


def _parse(delivery: WebhookDelivery, /, *, country_code: str) -> PbxEventIn | UnknownEvent:
    pairs = form_fields(delivery.body)
    if pairs is None:
        raise InvalidEventField("body", "The body is not a UTF-8 form (application/"
                                        "x-www-form-urlencoded)")
    return parse_twilio(pairs, country_code=country_code, received_at=delivery.received_at)


def _delivery_id(delivery: WebhookDelivery) -> str:
    # Twilio sends no delivery id it signs; the call, status and sequence number are
    # signed and identify one callback (a retry repeats them).
    return twilio_delivery_id(dict(form_fields(delivery.body) or []))


def _issue_secret(value: str | None) -> str:
    # The account's Auth Token, pasted by the operator (Twilio issues it).
    if not value or not value.strip() or len(value) > MAX_AUTH_TOKEN_CHARS:
        raise ValueError("A Twilio Auth Token is required")
    return value.strip()


def _signing_key(secret: str) -> bytes:
    return secret.encode()


def _logged_payload(text: str) -> str:
    return text


TWILIO = register(PbxFormat(
    name="twilio", label="Twilio Voice status callbacks", source="twilio",
    route="/pbx/twilio/status", secret_label="Twilio Auth Token",
    operator_supplies_secret=True, issue_secret=_issue_secret,
    signing_key=_signing_key, verify=_verify, parse=_parse, delivery_id=_delivery_id,
    logged_payload=_logged_payload))
