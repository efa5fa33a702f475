"""The pure PBX rules: the call state machine, numbers, signatures, formats, the
directory CSV and notice texts."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from twilio.request_validator import RequestValidator

from chat.domain.calls import (
    Call,
    CallEvent,
    CallState,
    MissedReason,
    apply,
    format_seen,
    parse_seen,
    state_of,
)
from chat.domain.cards.memo import Memo, MemoAction
from chat.domain.cards.missed_call import MissedCall
from chat.domain.directory import parse_directory
from chat.domain.imports import CsvProblems
from chat.domain.notices import Caller, FollowUp, Person
from chat.domain.numbers import InvalidNumber, Number, normalise
from chat.domain.pbx_formats import InvalidEventField, UnknownEvent, parse_native, parse_twilio
from chat.domain.webhooks import (
    SignatureRejected,
    SigningKey,
    new_secret,
    secret_key,
    standard_signature,
    twilio_signature,
    verify_standard,
    verify_twilio,
)

T0 = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


def run(events: list[CallEvent]) -> Call:
    call: Call | None = None
    for i, event in enumerate(events):
        call = apply(call, event, T0 + timedelta(seconds=i)).after
    assert call is not None
    return call


# --- the state machine -------------------------------------------------------------------

@pytest.mark.parametrize(("events", "state"), [
    ([CallEvent.RINGING], CallState.RINGING),
    ([CallEvent.RINGING, CallEvent.ANSWERED], CallState.ANSWERED),
    ([CallEvent.RINGING, CallEvent.ANSWERED, CallEvent.ENDED], CallState.ENDED),
    ([CallEvent.RINGING, CallEvent.MISSED], CallState.MISSED),
    ([CallEvent.RINGING, CallEvent.VOICEMAIL], CallState.VOICEMAIL),
    ([CallEvent.RINGING, CallEvent.MISSED, CallEvent.VOICEMAIL], CallState.VOICEMAIL),
    ([CallEvent.RINGING, CallEvent.ENDED], CallState.ENDED),
])
def test_a_call_goes_through_its_states(events: list[CallEvent], state: CallState) -> None:
    assert run(events).state is state


@pytest.mark.parametrize("events", [
    [CallEvent.RINGING, CallEvent.ANSWERED, CallEvent.ENDED],
    [CallEvent.RINGING, CallEvent.MISSED],
    [CallEvent.RINGING, CallEvent.VOICEMAIL],
])
def test_any_order_and_any_repeats_give_the_same_state(events: list[CallEvent]) -> None:
    expected = run(events)
    for order in itertools.permutations(events + events):
        assert run(list(order)).state is expected.state


def test_a_late_event_never_undoes_the_end() -> None:
    call = run([CallEvent.ANSWERED, CallEvent.ENDED])
    transition = apply(call, CallEvent.RINGING, T0 + timedelta(minutes=5))
    assert transition.after.state is CallState.ENDED
    assert not transition.changed


def test_ended_before_answered_is_not_missed() -> None:
    first = apply(None, CallEvent.ENDED, T0)
    assert first.after.state is CallState.ENDED and not first.needs_callback
    assert apply(first.after, CallEvent.ANSWERED, T0).after.state is CallState.ENDED


def test_callback_is_needed_exactly_once_per_call() -> None:
    call, needed = None, 0
    for event in [CallEvent.MISSED, CallEvent.RINGING, CallEvent.MISSED, CallEvent.VOICEMAIL]:
        transition = apply(call, event, T0, reason=MissedReason.BUSY)
        needed += transition.needs_callback
        call = transition.after
    assert needed == 1


def test_timestamps_keep_the_earliest_report_and_reason_the_first() -> None:
    call = apply(None, CallEvent.MISSED, T0 + timedelta(seconds=30),
                 reason=MissedReason.BUSY).after
    call = apply(call, CallEvent.MISSED, T0, reason=MissedReason.NO_ANSWER).after
    assert call.ended_at == T0 and call.reason is MissedReason.BUSY


def test_seen_round_trips_through_storage() -> None:
    seen = frozenset({CallEvent.ANSWERED, CallEvent.RINGING})
    assert parse_seen(format_seen(seen)) == seen
    assert state_of(parse_seen("")) is CallState.RINGING


# --- numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    ("03-1234-5678", "+81312345678"),
    ("０３（１２３４）５６７８", "+81312345678"),
    ("090-1234-5678", "+819012345678"),
    ("+81 3 1234 5678", "+81312345678"),
    ("010-1-202-555-0100", "+12025550100"),
    ("2101", "2101"),
    ("0451", "0451"),
    ("sip:2101@pbx.city.local", "2101"),
    ("client:2101", "2101"),
    ("tel:+81312345678", "+81312345678"),
])
def test_numbers_normalise_to_e164_or_extensions(raw: str, value: str) -> None:
    number = normalise(raw)
    assert number is not None and number.value == value


@pytest.mark.parametrize("raw", ["anonymous", "非通知", "", "  "])
def test_anonymous_callers_have_no_number(raw: str) -> None:
    assert normalise(raw) is None


@pytest.mark.parametrize("raw", ["abc", "123456789", "+0123", "03-1234-56789-0"])
def test_garbage_is_not_a_number(raw: str) -> None:
    with pytest.raises(InvalidNumber):
        normalise(raw)


def test_numbers_display_nationally_and_call_back_by_tel_uri() -> None:
    number = Number("+81312345678")
    assert number.display() == "0312345678"
    assert number.tel_uri() == "tel:+81312345678"
    assert Number("+12025550100").display() == "+12025550100"


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


# --- directory and notices ---------------------------------------------------------------

def test_directory_csv_is_validated_whole() -> None:
    good = ("number,kind,target,name\n0451,user,1002,\n2150,窓口,111,庶務係 窓口\n"
            "03-9999-0000,contact,,県庁 防災課\n")
    rows = parse_directory(good, known_staff={"1002"}, known_departments={"111"})
    assert [(r.number, r.kind) for r in rows] == [
        ("0451", "user"), ("2150", "desk"), ("+81399990000", "contact")]
    bad = ("number,kind,target,name\n0451,user,9999,\n451,desk,999,\n0451,user,1002,\n"
           "2222,contact,,x\n")
    with pytest.raises(CsvProblems) as error:
        parse_directory(bad, known_staff={"1002"}, known_departments={"111"})
    text = "\n".join(error.value.problems)
    assert "staff number '9999'" in text and "department '999'" in text
    assert "needs a name" in text and "already on line 2" in text and "outside number" in text


def test_notice_texts_are_japanese_and_collapse() -> None:
    caller = Caller(Number("+81312345678"), "株式会社山田")
    one = MissedCall(caller, "user", "鈴木 花子", "2101", "no_answer", 1, T0, T0)
    assert one.body("81") == "不在着信：株式会社山田（0312345678） から 11月26日 14:00（応答なし）"
    three = MissedCall(caller, "desk", "庶務係 窓口", "2150", "busy", 3, T0,
                       T0 + timedelta(minutes=20))
    assert three.body("81").startswith("【庶務係 窓口（2150）】不在着信 3件：")
    card = three.card("81", FollowUp())
    assert card["caller"]["tel"] == "tel:+81312345678" and card["state"] == "open"
    memo = Memo(Caller(None, "山田"), "山田商事", MemoAction.CALL_BACK, "見積の件",
                "鈴木 花子", Person(10, "加藤 恵"), T0)
    assert "折り返しお電話ください" in memo.body("81") and "非通知" in memo.body("81")


def test_secret_keys_decode_like_the_reference_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert secret_key(secret) == base64.b64decode(secret.removeprefix("whsec_"))


def test_a_notice_card_travels_in_message_data_and_goes_with_the_text() -> None:
    from chat.frames import message_json, validate_server_frame
    from chat.store.models import Message

    message = Message(id=1, channel_id=2, seq=1, version=1, sender_id=None, client_id=None,
                      kind="call.missed", body="不在着信", revision=1, created_at=T0,
                      edited_at=None, deleted_at=None, purged_at=None,
                      data='{"notice": "call.missed", "count": 2}')
    wire = message_json(message)
    assert wire["data"] == {"notice": "call.missed", "count": 2}
    validate_server_frame({"type": "message", "message": wire})
    message.deleted_at = T0
    assert message_json(message)["data"] is None
    validate_server_frame({"type": "call.presence", "user_id": 1, "status": "idle"})
    with pytest.raises(ValueError, match="call presence"):
        validate_server_frame({"type": "call.presence", "user_id": 1, "status": "busy"})
