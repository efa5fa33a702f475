"""The native format (chat/domain/pbx_formats/standard.py): Standard Webhooks signatures,
checked against the ``standardwebhooks`` reference package and its published test vector,
through the registered format as the webhook handler calls it, and the JSON body."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from chat.domain.calls import MissedReason
from chat.domain.numbers import Number
from chat.domain.pbx_formats.events import InvalidEventField, UnknownEvent
from chat.domain.pbx_formats.registry import SignatureRejected, SigningKey, WebhookDelivery
from chat.domain.pbx_formats.standard import (
    STANDARD,
    new_secret,
    parse_native,
    secret_key,
    standard_signature,
    verify_standard,
)

T0 = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


# --- Standard Webhooks -------------------------------------------------------------------

VECTOR_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_BODY = b'{"test": 2432232314}'


def test_signature_matches_the_reference_test_vector() -> None:
    # libraries/python/tests/test_webhooks.py::test_sign_function
    assert standard_signature(secret_key(VECTOR_KEY), VECTOR_ID, 1614265330, VECTOR_BODY) \
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(secret: str, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode())}


def _verify(keys: list[SigningKey], headers: dict[str, str], body: bytes,
            now: datetime) -> str:
    return verify_standard(keys, msg_id=headers.get("webhook-id"),
                           timestamp=headers.get("webhook-timestamp"),
                           signature=headers.get("webhook-signature"), body=body,
                           now=now.timestamp(), tolerance=300)


def test_we_accept_what_the_reference_library_signs_and_it_accepts_ours() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    headers = _headers(secret, "msg_1", now, VECTOR_BODY)
    assert _verify([SigningKey("a", secret_key(secret))], headers, VECTOR_BODY, now) == "a"
    ours = standard_signature(secret_key(secret), "msg_1", int(now.timestamp()), VECTOR_BODY)
    Webhook(secret).verify(VECTOR_BODY, {**headers, "webhook-signature": ours})


def test_rotation_tries_every_active_key_and_every_listed_signature() -> None:
    old, new = new_secret(), new_secret()
    now = datetime.now(UTC)
    headers = _headers(new, "msg_2", now, VECTOR_BODY)
    headers["webhook-signature"] = ("v1a,AAAA v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                                    "garbage " + headers["webhook-signature"])
    keys = [SigningKey("old", secret_key(old)), SigningKey("new", secret_key(new))]
    assert _verify(keys, headers, VECTOR_BODY, now) == "new"


@pytest.mark.parametrize("change", [
    "no-id", "no-timestamp", "no-signature", "bad-timestamp", "too-old", "too-new",
    "other-key", "body-changed", "id-changed",
])
def test_every_bad_request_is_rejected_like_the_reference_library(change: str) -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    at = now
    if change == "too-old":
        at = now - timedelta(minutes=5, seconds=1)
    if change == "too-new":
        at = now + timedelta(minutes=5, seconds=1)
    body = VECTOR_BODY
    headers = _headers(new_secret() if change == "other-key" else secret, "msg_3", at, body)
    if change == "no-id":
        del headers["webhook-id"]
    if change == "no-timestamp":
        del headers["webhook-timestamp"]
    if change == "no-signature":
        del headers["webhook-signature"]
    if change == "bad-timestamp":
        headers["webhook-timestamp"] = "hello"
    if change == "body-changed":
        body = b'{"test": 2432232315}'
    if change == "id-changed":
        headers["webhook-id"] = "msg_4"
    with pytest.raises(SignatureRejected):
        _verify([SigningKey("k", secret_key(secret))], headers, body, now)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


# --- the native format -------------------------------------------------------------------

NATIVE = {"type": "call.missed", "call_id": "c-1", "occurred_at": "2026-11-26T14:05:00+09:00",
          "direction": "inbound", "from": "03-1234-5678", "to": "03-1111-2222",
          "extension": "2101", "reason": "busy"}


def test_native_body_parses_into_the_call_model() -> None:
    event = parse_native(NATIVE, country_code="81")
    assert not isinstance(event, UnknownEvent)
    assert event.occurred_at == T0 + timedelta(seconds=5 * 60)
    assert event.from_number == Number("+81312345678") and event.reason is MissedReason.BUSY


@pytest.mark.parametrize(("change", "field"), [
    ({"call_id": None}, "call_id"), ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2026-11-26T14:05:00"}, "occurred_at"), ({"direction": "up"}, "direction"),
    ({"extension": "x"}, "extension"), ({"to": None}, "to"), ({"reason": "bored"}, "reason"),
    ({"type": 3}, "type"), ({"from": None}, "from"),
])
def test_malformed_native_bodies_name_the_field(change: dict[str, object], field: str) -> None:
    body = {**NATIVE, **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InvalidEventField) as error:
        parse_native(body, country_code="81")
    assert error.value.field == field


def test_unknown_types_and_anonymous_callers() -> None:
    assert isinstance(parse_native({**NATIVE, "type": "call.transferred"}, country_code="81"),
                      UnknownEvent)
    event = parse_native({**NATIVE, "from": "anonymous"}, country_code="81")
    assert not isinstance(event, UnknownEvent) and event.from_number is None


def test_secret_keys_decode_like_the_reference_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert secret_key(secret) == base64.b64decode(secret.removeprefix("whsec_"))


# --- the registered format, as the webhook handler calls it --------------------------------

def _delivery(secret: str, at: datetime, body: bytes = VECTOR_BODY,
              msg_id: str = "msg_5") -> WebhookDelivery:
    return WebhookDelivery(headers=_headers(secret, msg_id, at, body), body=body,
                           url="https://chat.city.example/pbx/events", received_at=at)


def _keys(*secrets: tuple[str, str]) -> list[SigningKey]:
    return [SigningKey(name, STANDARD.signing_key(secret)) for name, secret in secrets]


def test_the_format_accepts_a_valid_signature_and_names_its_secret() -> None:
    secret = STANDARD.issue_secret(None)
    delivery = _delivery(secret, T0)
    assert STANDARD.verify(_keys(("main", secret)), delivery, now=T0.timestamp(),
                           tolerance=300) == "main"
    assert STANDARD.delivery_id(delivery) == "msg_5"


def test_the_format_refuses_a_signature_by_another_secret() -> None:
    delivery = _delivery(new_secret(), T0)
    with pytest.raises(SignatureRejected, match="no valid signature"):
        STANDARD.verify(_keys(("main", new_secret())), delivery, now=T0.timestamp(),
                        tolerance=300)


def test_the_format_refuses_a_stale_timestamp_by_the_injected_clock_and_window() -> None:
    secret = new_secret()
    delivery = _delivery(secret, T0)
    keys = _keys(("main", secret))
    late = (T0 + timedelta(seconds=61)).timestamp()
    with pytest.raises(SignatureRejected, match="outside the accepted window"):
        STANDARD.verify(keys, delivery, now=late, tolerance=60)
    # The window is the setting, not the reference library's fixed five minutes, and
    # the time is the server's clock (here months from the wall clock), not its own.
    assert STANDARD.verify(keys, delivery, now=late, tolerance=61) == "main"


def test_the_format_accepts_either_secret_while_a_rotation_is_under_way() -> None:
    old, new = new_secret(), new_secret()
    keys = _keys(("pbx-old", old), ("pbx-new", new))
    assert STANDARD.verify(keys, _delivery(old, T0), now=T0.timestamp(),
                           tolerance=300) == "pbx-old"
    assert STANDARD.verify(keys, _delivery(new, T0), now=T0.timestamp(),
                           tolerance=300) == "pbx-new"
    both = _delivery(old, T0)
    headers = dict(both.headers)
    headers["webhook-signature"] += " " + Webhook(new).sign("msg_5", T0, VECTOR_BODY)
    listed = WebhookDelivery(headers=headers, body=VECTOR_BODY, url=both.url, received_at=T0)
    assert STANDARD.verify(_keys(("pbx-new", new)), listed, now=T0.timestamp(),
                           tolerance=300) == "pbx-new"


def test_the_format_parses_the_body_and_refuses_one_that_is_not_utf8_json() -> None:
    import json

    body = json.dumps(NATIVE).encode()
    event = STANDARD.parse(WebhookDelivery(headers={}, body=body, url="", received_at=T0),
                           country_code="81")
    assert not isinstance(event, UnknownEvent) and event.call_id == "c-1"
    with pytest.raises(InvalidEventField) as error:
        STANDARD.parse(WebhookDelivery(headers={}, body=b"\xff{", url="", received_at=T0),
                       country_code="81")
    assert error.value.field == "body"
    assert STANDARD.logged_payload(body.decode()) == NATIVE
