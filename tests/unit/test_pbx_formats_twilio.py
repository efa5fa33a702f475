"""Twilio Voice status callbacks (chat/domain/pbx_formats/twilio.py): our signature check
against what ``twilio``'s ``RequestValidator`` signs, and the mapping to the call model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.request_validator import RequestValidator

from chat.domain.calls import CallEvent, MissedReason
from chat.domain.numbers import Number
from chat.domain.pbx_formats.events import UnknownEvent
from chat.domain.pbx_formats.registry import SignatureRejected, SigningKey
from chat.domain.pbx_formats.twilio import parse_twilio, twilio_signature, verify_twilio

T0 = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


# --- Twilio ------------------------------------------------------------------------------

TWILIO_PARAMS = [("CallSid", "CA123"), ("CallStatus", "no-answer"), ("From", "+81312345678"),
                 ("To", "+81311112222"), ("Direction", "inbound"), ("Foo", "b"),
                 ("Foo", "a")]


@pytest.mark.parametrize("url", [
    "https://chat.city.example/pbx/twilio/status",
    "https://chat.city.example:443/pbx/twilio/status?tenant=1",
    "http://localhost:8000/pbx/twilio/status",
])
def test_twilio_signature_is_what_request_validator_expects(url: str) -> None:
    token = "12345abcde"
    signature = twilio_signature(token, url, TWILIO_PARAMS)
    validator = RequestValidator(token)
    grouped: dict[str, list[str]] = {}
    for name, value in TWILIO_PARAMS:
        grouped.setdefault(name, []).append(value)

    class MultiDict(dict[str, list[str]]):
        def getall(self, key: str) -> list[str]:
            return self[key]

    assert validator.validate(url, MultiDict(grouped), signature)
    assert verify_twilio([SigningKey("t", token.encode())], url=url, params=TWILIO_PARAMS,
                         signature=signature) == "t"


def test_twilio_signature_over_the_url_with_or_without_default_port() -> None:
    token = "12345abcde"
    signed = twilio_signature(token, "https://chat.city.example:443/pbx/twilio/status",
                              TWILIO_PARAMS)
    verify_twilio([SigningKey("t", token.encode())],
                  url="https://chat.city.example/pbx/twilio/status", params=TWILIO_PARAMS,
                  signature=signed)
    with pytest.raises(SignatureRejected):
        verify_twilio([SigningKey("t", token.encode())],
                      url="http://chat.city.example/pbx/twilio/status",
                      params=TWILIO_PARAMS, signature=signed)


def test_twilio_callbacks_map_to_the_call_model() -> None:
    event = parse_twilio(TWILIO_PARAMS, country_code="81", received_at=T0)
    assert not isinstance(event, UnknownEvent)
    assert event.type is CallEvent.MISSED and event.reason is MissedReason.NO_ANSWER
    assert event.extension == Number("+81311112222")
    queued = parse_twilio([("CallSid", "CA1"), ("CallStatus", "queued")], country_code="81",
                          received_at=T0)
    assert isinstance(queued, UnknownEvent)
    dated = parse_twilio([*TWILIO_PARAMS, ("Timestamp", "Thu, 26 Nov 2026 05:00:00 +0000")],
                         country_code="81", received_at=T0 + timedelta(hours=1))
    assert not isinstance(dated, UnknownEvent) and dated.occurred_at == T0
