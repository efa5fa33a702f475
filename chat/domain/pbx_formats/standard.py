"""The native format: our JSON call events, signed per Standard Webhooks
(https://www.standardwebhooks.com/, docs/pbx.md §1-2), posted to ``/pbx/events``.

Signatures are computed by the reference package, ``standardwebhooks``: one ``Webhook``
per active secret signs ``webhook-id.webhook-timestamp.body`` and each ``v1,`` entry the
PBX listed is compared with it in constant time (several during a rotation). We do not
call ``Webhook.verify`` itself because it reads the wall clock and fixes the window at
five minutes; the server's clock is injected (tests move it by months) and the window is
a setting (``CHAT_PBX_TIMESTAMP_TOLERANCE_SECONDS``), so the header and timestamp checks
before the signature are ours, with the rejection reasons the admin console shows.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from chat.domain.calls import CallEvent, Direction, MissedReason
from chat.domain.pbx_formats.events import (
    MAX_CALL_ID_CHARS,
    InvalidEventField,
    PbxEventIn,
    UnknownEvent,
    number_field,
    parse_rfc3339,
    string_field,
)
from chat.domain.pbx_formats.registry import (
    PbxFormat,
    SignatureRejected,
    SigningKey,
    WebhookDelivery,
    register,
)

SECRET_PREFIX = "whsec_"
# Standard Webhooks, "Signature scheme": secrets of 24 to 64 random bytes.
SECRET_BYTES = 32
MAX_WEBHOOK_ID_CHARS = 200


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64 (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the prefix is optional), as the reference
    library reads it."""
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(body + "==", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret is not base64") from exc
    if not key:
        raise ValueError("the secret is empty")
    return key


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``msg_id.timestamp.body`` (the exact raw bytes:
    Standard Webhooks, "Signature scheme"), as the reference package signs it."""
    return Webhook(key).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)


def verify_standard(keys: Sequence[SigningKey], *, msg_id: str | None,
                    timestamp: str | None, signature: str | None, body: bytes, now: float,
                    tolerance: float) -> str:
    """Check a Standard Webhooks request; return the name of the key that signed it.

    Raises :class:`SignatureRejected` when a header is missing or malformed, when the
    timestamp is more than ``tolerance`` seconds from ``now`` either way (replay
    protection, "Verifying signatures"), or when no ``v1`` entry of the space-separated
    signature list matches any key (rotation: each key is tried; constant-time compare).
    """
    if not msg_id or not timestamp or not signature:
        raise SignatureRejected("missing webhook-id, webhook-timestamp or webhook-signature")
    if len(msg_id) > MAX_WEBHOOK_ID_CHARS:
        raise SignatureRejected("webhook-id is too long")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureRejected("webhook-timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance:
        raise SignatureRejected("webhook-timestamp is outside the accepted window")
    offered = [entry.encode() for entry in signature.split(" ") if entry.startswith("v1,")]
    for key in keys:
        expected = standard_signature(key.key, msg_id, sent_at, body).encode()
        # Compare against every candidate so timing does not reveal which one matched.
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return key.name
    raise SignatureRejected("no valid signature")


def parse_native(body: Any, *, country_code: str) -> PbxEventIn | UnknownEvent:
    """The native JSON body (docs/pbx.md). Raises :class:`InvalidEventField`."""
    if not isinstance(body, dict):
        raise InvalidEventField("body", "the body must be a JSON object")
    kind = string_field(body, "type", max_chars=64)
    assert kind is not None
    call_id = string_field(body, "call_id", max_chars=MAX_CALL_ID_CHARS)
    try:
        event = CallEvent(kind)
    except ValueError:
        return UnknownEvent(kind, call_id)
    assert call_id is not None
    occurred = string_field(body, "occurred_at", max_chars=64)
    assert occurred is not None
    direction_raw = string_field(body, "direction", max_chars=16)
    try:
        direction = Direction(direction_raw or "")
    except ValueError:
        raise InvalidEventField(
            "direction", "direction must be inbound, outbound or internal") from None
    reason: MissedReason | None = None
    reason_raw = string_field(body, "reason", required=False, max_chars=32)
    if reason_raw is not None:
        if event is not CallEvent.MISSED:
            raise InvalidEventField("reason", "reason is only for call.missed")
        try:
            reason = MissedReason(reason_raw)
        except ValueError:
            raise InvalidEventField(
                "reason", "reason must be no_answer, busy or caller_cancelled") from None
    caller_name = (string_field(body, "caller_name", required=False, max_chars=100) or "").strip()
    occurred_at = parse_rfc3339(occurred, "occurred_at")
    # "from" may be "anonymous" or "" (no number), but the key itself must be there.
    if "from" not in body:
        raise InvalidEventField("from", "from is required")
    from_number = number_field(body, "from", country_code, required=False)
    return PbxEventIn(
        type=event, call_id=call_id, occurred_at=occurred_at, direction=direction,
        from_number=from_number, to_number=number_field(body, "to", country_code, required=True),
        extension=number_field(body, "extension", country_code, required=True),
        reason=reason, caller_name=caller_name or None)


def _verify(keys: Sequence[SigningKey], delivery: WebhookDelivery, /, *, now: float,
            tolerance: float) -> str:
    headers = delivery.headers
    return verify_standard(keys, msg_id=headers.get("webhook-id"),
                           timestamp=headers.get("webhook-timestamp"),
                           signature=headers.get("webhook-signature"), body=delivery.body,
                           now=now, tolerance=tolerance)


def _parse(delivery: WebhookDelivery, /, *, country_code: str) -> PbxEventIn | UnknownEvent:
    try:
        payload = json.loads(delivery.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidEventField("body", "The body is not UTF-8 JSON") from None
    return parse_native(payload, country_code=country_code)


def _delivery_id(delivery: WebhookDelivery) -> str:
    # The signed webhook-id: a retry repeats it with a new timestamp and signature.
    return delivery.headers["webhook-id"]


def _issue_secret(value: str | None) -> str:
    # Generated here, shown once, copied into the PBX.
    return new_secret()


def _logged_payload(text: str) -> Any:
    return json.loads(text)


STANDARD = register(PbxFormat(
    name="standard", label="Standard Webhooks (JSON)", source="native",
    route="/pbx/events", secret_label="PBX secret", operator_supplies_secret=False,
    issue_secret=_issue_secret, signing_key=secret_key, verify=_verify, parse=_parse,
    delivery_id=_delivery_id, logged_payload=_logged_payload))
