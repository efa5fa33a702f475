"""The pure PBX rules: the call state machine, numbers, the directory CSV and notice
texts. The webhook formats and their signatures: test_pbx_formats_*.py."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

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
    assert number.display() == "03-1234-5678"
    assert number.tel_uri() == "tel:+81312345678"
    assert Number("+12025550100").display() == "+1 202-555-0100"


@pytest.mark.parametrize(("typed", "shown"), [
    ("0312345678", "03-1234-5678"),        # Tokyo: a 2-digit area code
    ("09012345678", "090-1234-5678"),      # a mobile
    ("0466123456", "0466-12-3456"),        # Fujisawa: a 4-digit area code
    ("0120123456", "0120-123-456"),        # free dial
    ("0570064556", "0570-064-556"),        # navi dial
    ("4501", "4501"),                      # an extension stays as typed
    ("0451", "0451"),                      # leading zero and all
])
def test_numbers_are_shown_with_hyphens_as_on_a_business_card(typed: str, shown: str) -> None:
    number = normalise(typed)
    assert number is not None and number.display() == shown
    assert Caller(number, "山田").card("81")["tel"] == f"tel:{number.value}"   # raw digits


def test_a_number_the_metadata_does_not_know_keeps_its_plain_digits() -> None:
    assert Number("+8131234").display() == "031234"


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
    assert one.body("81") == ("不在着信：株式会社山田（03-1234-5678） から 11月26日 14:00"
                              "（応答なし）")
    three = MissedCall(caller, "desk", "庶務係 窓口", "2150", "busy", 3, T0,
                       T0 + timedelta(minutes=20))
    assert three.body("81").startswith("【庶務係 窓口（2150）】不在着信 3件：")
    card = three.card("81", FollowUp())
    assert card["caller"]["tel"] == "tel:+81312345678" and card["state"] == "open"
    memo = Memo(Caller(None, "山田"), "山田商事", MemoAction.CALL_BACK, "見積の件",
                "鈴木 花子", Person(10, "加藤 恵"), T0)
    assert "折り返しお電話ください" in memo.body("81") and "非通知" in memo.body("81")
    assert memo.body("81").startswith("伝言メモ（鈴木 花子さんへ）：")    # no space before さん


def test_collapsed_calls_name_their_span_as_a_person_writes_it() -> None:
    caller = Caller(Number("+81312345678"), None)

    def span(first: datetime, last: datetime) -> str:
        return MissedCall(caller, "user", "鈴木 花子", "2101", "no_answer", 2, first,
                          last).body("81").split(" から ")[1]

    assert span(T0, T0 + timedelta(seconds=40)) == "11月26日 14:00"          # one minute
    assert span(T0, T0 + timedelta(minutes=18)) == "11月26日 14:00〜14:18"    # one day
    assert span(T0, T0 + timedelta(hours=12)) == "11月26日 14:00〜11月27日 02:00"


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
