"""The sans-I/O websocket session (chat/protocol.py): frames in, actions out.

No socket and no clock: every call passes ``now`` in monotonic seconds, and every frame
the core replies with is validated against the server frame schema.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat.errors import StorageUnavailable, Unauthenticated
from chat.frames import validate_server_frame
from chat.protocol import (
    CLOSE_IDLE,
    CLOSE_POLICY,
    CLOSE_SESSION_ENDED,
    MAX_REF_CHARS,
    MAX_RESYNC_LIMIT,
    Action,
    Authenticate,
    Close,
    Confirm,
    ConnectionProtocol,
    DeleteMessage,
    EditMessage,
    Limits,
    MarkRead,
    Pin,
    React,
    Reply,
    Resync,
    Run,
    SendMessage,
    State,
    Typing,
)

# --- helpers -----------------------------------------------------------------------------


def text(frame: Any) -> str:
    return json.dumps(frame, ensure_ascii=False)


def checked(actions: list[Action]) -> list[Action]:
    """Validate every frame the core asks to send; return the actions unchanged."""
    for action in actions:
        if isinstance(action, Reply):
            validate_server_frame(action.frame)
    return actions


def send(proto: ConnectionProtocol, frame: Any, *, now: float = 0.0) -> list[Action]:
    return checked(proto.receive_text(text(frame), now=now))


def only_error(actions: list[Action]) -> dict[str, Any]:
    """The single error frame in ``actions``, which must not close the connection."""
    assert len(actions) == 1, actions
    action = actions[0]
    assert isinstance(action, Reply)
    assert action.frame["type"] == "error"
    return action.frame


def error_then_close(actions: list[Action]) -> tuple[dict[str, Any], Close]:
    assert len(actions) == 2, actions
    reply, close = actions
    assert isinstance(reply, Reply)
    assert reply.frame["type"] == "error"
    assert isinstance(close, Close)
    return reply.frame, close


def fresh(limits: Limits | None = None, *, now: float = 0.0) -> ConnectionProtocol:
    return ConnectionProtocol(limits or Limits(), now=now)


def authenticating(limits: Limits | None = None, *, now: float = 0.0) -> ConnectionProtocol:
    proto = fresh(limits, now=now)
    actions = send(proto, {"type": "auth", "token": "tok"}, now=now)
    assert actions == [Run(Authenticate("tok", None), None)]
    assert proto.state is State.AUTHENTICATING
    return proto


def opened(limits: Limits | None = None, *, now: float = 0.0) -> ConnectionProtocol:
    proto = authenticating(limits, now=now)
    proto.auth_succeeded()
    assert proto.state is State.OPEN
    return proto


def run_of(actions: list[Action]) -> Run:
    assert len(actions) == 1, actions
    action = actions[0]
    assert isinstance(action, Run), action
    return action


# --- the authentication handshake -------------------------------------------------------


def test_new_connection_awaits_auth() -> None:
    assert fresh().state is State.AWAITING_AUTH


def test_auth_frame_asks_the_adapter_to_authenticate_with_the_token_and_ref() -> None:
    proto = fresh()
    actions = send(proto, {"type": "auth", "token": "secret-token", "ref": "a1"})
    assert actions == [Run(Authenticate("secret-token", None), "a1")]
    assert proto.state is State.AUTHENTICATING


@pytest.mark.parametrize("frame_type", ["send", "ping", "read", "typing", "nonsense"])
def test_frame_before_auth_is_refused_and_closes_with_policy_violation(frame_type: str) -> None:
    proto = fresh()
    error, close = error_then_close(
        send(proto, {"type": frame_type, "channel_id": 1, "ref": 9}))
    assert error["code"] == "unauthenticated"
    assert error["ref"] == 9
    assert close.code == CLOSE_POLICY
    assert proto.state is State.CLOSED


@pytest.mark.parametrize("frame", [
    {"type": "auth"},
    {"type": "auth", "token": ""},
    {"type": "auth", "token": None},
    {"type": "auth", "token": 12345},
    {"type": "auth", "token": ["tok"]},
], ids=["missing", "empty", "null", "integer", "list"])
def test_auth_without_a_usable_token_is_refused_and_closes(frame: dict[str, Any]) -> None:
    proto = fresh()
    error, close = error_then_close(send(proto, frame))
    assert error["code"] == "invalid_frame"
    assert close.code == CLOSE_POLICY
    assert proto.state is State.CLOSED


@pytest.mark.parametrize("frame", [
    {"type": "send", "channel_id": 1, "client_id": "c", "body": "x", "ref": "r"},
    {"type": "ping", "ref": "r"},
    {"type": "auth", "token": "again", "ref": "r"},
])
def test_frames_while_authenticating_are_refused_as_not_ready_without_closing(
    frame: dict[str, Any],
) -> None:
    proto = authenticating()
    error = only_error(send(proto, frame))
    assert error["code"] == "not_ready"
    assert error["ref"] == "r"
    assert proto.state is State.AUTHENTICATING


def test_auth_succeeded_opens_the_connection() -> None:
    proto = authenticating()
    proto.auth_succeeded()
    assert proto.state is State.OPEN
    assert run_of(send(proto, {"type": "delete", "message_id": 3})).command == DeleteMessage(3)


def test_auth_failed_sends_the_error_then_closes_with_policy_violation() -> None:
    proto = authenticating()
    error, close = error_then_close(checked(proto.auth_failed(Unauthenticated())))
    assert error["code"] == Unauthenticated.code
    assert error["message"] == Unauthenticated.default_message
    assert close.code == CLOSE_POLICY
    assert proto.state is State.CLOSED


def test_a_second_auth_frame_after_open_is_an_invalid_frame() -> None:
    proto = opened()
    error = only_error(send(proto, {"type": "auth", "token": "t", "ref": 4}))
    assert error["code"] == "invalid_frame"
    assert error["ref"] == 4
    assert proto.state is State.OPEN


# --- commands after authentication -------------------------------------------------------


def test_send_becomes_a_send_message_command_with_ref() -> None:
    proto = opened()
    run = run_of(send(proto, {"type": "send", "channel_id": 7, "client_id": "c-1",
                              "body": "おはようございます", "ref": "s1"}))
    assert run == Run(SendMessage(7, "c-1", "おはようございます"), "s1")


def test_send_carries_the_reply_mentions_and_photo_when_given() -> None:
    proto = opened()
    run = run_of(send(proto, {"type": "send", "channel_id": 7, "client_id": "c-2",
                              "body": "", "reply_to": 5, "mentions": [3, 4],
                              "attachment_id": 9}))
    assert run.command == SendMessage(7, "c-2", "", reply_to=5, mentions=(3, 4),
                                      attachment_id=9)
    explicit_nulls = run_of(send(proto, {"type": "send", "channel_id": 7, "client_id": "c",
                                         "body": "x", "reply_to": None, "mentions": None,
                                         "attachment_id": None}))
    assert explicit_nulls.command == SendMessage(7, "c", "x")


@pytest.mark.parametrize("extra", [
    {"reply_to": "5"}, {"reply_to": True}, {"attachment_id": -1},
    {"mentions": 3}, {"mentions": [1.5]}, {"mentions": [True]}, {"mentions": ["2"]},
    {"mentions": list(range(51))},
])
def test_send_with_bad_reply_mentions_or_photo_is_invalid(extra: dict[str, Any]) -> None:
    proto = opened()
    error = only_error(send(proto, {"type": "send", "channel_id": 7, "client_id": "c",
                                    "body": "x", **extra}))
    assert error["code"] == "invalid_frame"


@pytest.mark.parametrize(("frame", "command"), [
    ({"type": "react", "message_id": 4, "emoji": "👍"}, React(4, "👍", on=True)),
    ({"type": "unreact", "message_id": 4, "emoji": "了解"}, React(4, "了解", on=False)),
    ({"type": "pin", "message_id": 4}, Pin(4, pinned=True)),
    ({"type": "unpin", "message_id": 4}, Pin(4, pinned=False)),
    ({"type": "confirm", "message_id": 4}, Confirm(4)),
])
def test_stamps_pins_and_confirmations_become_commands(frame: dict[str, Any],
                                                       command: Any) -> None:
    assert run_of(send(opened(), {**frame, "ref": "x"})) == Run(command, "x")


@pytest.mark.parametrize("frame", [
    {"type": "react", "message_id": 4},
    {"type": "react", "message_id": 4, "emoji": ""},
    {"type": "react", "message_id": 4, "emoji": "x" * 33},
    {"type": "unreact", "message_id": "4", "emoji": "👍"},
    {"type": "pin"},
    {"type": "confirm", "message_id": None},
])
def test_malformed_stamp_pin_and_confirm_frames_are_invalid(frame: dict[str, Any]) -> None:
    assert only_error(send(opened(), frame))["code"] == "invalid_frame"


def test_edit_becomes_an_edit_message_command() -> None:
    proto = opened()
    run = run_of(send(proto, {"type": "edit", "message_id": 42, "body": "訂正", "ref": 2}))
    assert run == Run(EditMessage(42, "訂正"), 2)


def test_delete_becomes_a_delete_message_command() -> None:
    proto = opened()
    assert run_of(send(proto, {"type": "delete", "message_id": 42})) == \
        Run(DeleteMessage(42), None)


def test_resync_defaults_to_no_version_and_the_configured_page() -> None:
    proto = opened(Limits(resync_page=25))
    run = run_of(send(proto, {"type": "resync", "channel_id": 3, "after_seq": 10}))
    assert run.command == Resync(channel_id=3, after_seq=10, after_version=None, limit=25)


def test_resync_carries_after_version_and_limit_when_given() -> None:
    proto = opened()
    run = run_of(send(proto, {"type": "resync", "channel_id": 3, "after_seq": 0,
                              "after_version": 17, "limit": 50, "ref": "r"}))
    assert run == Run(Resync(3, 0, 17, 50), "r")


def test_resync_with_explicit_null_after_version_means_none() -> None:
    proto = opened()
    run = run_of(send(proto, {"type": "resync", "channel_id": 3, "after_seq": 5,
                              "after_version": None}))
    assert isinstance(run.command, Resync)
    assert run.command.after_version is None


@pytest.mark.parametrize("limit", [1, MAX_RESYNC_LIMIT])
def test_resync_limit_bounds_are_inclusive(limit: int) -> None:
    proto = opened()
    run = run_of(send(proto, {"type": "resync", "channel_id": 1, "after_seq": 0,
                              "limit": limit}))
    assert isinstance(run.command, Resync)
    assert run.command.limit == limit


@pytest.mark.parametrize("limit", [0, -1, MAX_RESYNC_LIMIT + 1, True, "10", 2.5, None])
def test_resync_limit_outside_bounds_or_not_an_integer_is_invalid(limit: Any) -> None:
    proto = opened()
    error = only_error(send(proto, {"type": "resync", "channel_id": 1, "after_seq": 0,
                                    "limit": limit, "ref": "x"}))
    assert error["code"] == "invalid_frame"
    assert error["ref"] == "x"


@pytest.mark.parametrize("after_version", [-1, "3", False, 1.0])
def test_resync_with_a_bad_after_version_is_invalid(after_version: Any) -> None:
    proto = opened()
    error = only_error(send(proto, {"type": "resync", "channel_id": 1, "after_seq": 0,
                                    "after_version": after_version}))
    assert error["code"] == "invalid_frame"


def test_read_becomes_a_mark_read_command() -> None:
    proto = opened()
    assert run_of(send(proto, {"type": "read", "channel_id": 5, "seq": 12})) == \
        Run(MarkRead(5, 12), None)


def test_typing_becomes_a_typing_command() -> None:
    proto = opened()
    assert run_of(send(proto, {"type": "typing", "channel_id": 5, "ref": "t"})) == \
        Run(Typing(5), "t")


def test_ping_is_answered_with_pong_echoing_the_ref() -> None:
    proto = opened()
    assert send(proto, {"type": "ping", "ref": "p-1"}) == [Reply({"type": "pong",
                                                                  "ref": "p-1"})]
    assert send(proto, {"type": "ping", "ref": 0}) == [Reply({"type": "pong", "ref": 0})]


def test_ping_without_ref_gets_a_bare_pong() -> None:
    proto = opened()
    assert send(proto, {"type": "ping"}) == [Reply({"type": "pong"})]


def test_ids_at_the_top_of_the_signed_64_bit_range_are_accepted() -> None:
    proto = opened()
    assert run_of(send(proto, {"type": "delete", "message_id": 2**63 - 1})).command == \
        DeleteMessage(2**63 - 1)


# --- malformed and invalid frames --------------------------------------------------------


def test_malformed_json_after_auth_is_an_error_and_the_connection_stays_open() -> None:
    proto = opened()
    error = only_error(checked(proto.receive_text('{"type": "send", ', now=0.0)))
    assert error["code"] == "malformed_json"
    assert proto.state is State.OPEN
    assert run_of(send(proto, {"type": "read", "channel_id": 1, "seq": 1})).command == \
        MarkRead(1, 1)


def test_malformed_json_before_auth_closes_with_policy_violation() -> None:
    proto = fresh()
    error, close = error_then_close(checked(proto.receive_text("not json", now=0.0)))
    assert error["code"] == "malformed_json"
    assert close.code == CLOSE_POLICY
    assert proto.state is State.CLOSED


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    proto = opened(Limits(max_frame_bytes=10**6))
    error = only_error(checked(proto.receive_text("[" * 100_000 + "]" * 100_000, now=0.0)))
    assert error["code"] == "malformed_json"


@pytest.mark.parametrize("payload", ["[]", "[1, 2]", '"send"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_an_invalid_frame(payload: str) -> None:
    proto = opened()
    error = only_error(checked(proto.receive_text(payload, now=0.0)))
    assert error["code"] == "invalid_frame"
    assert proto.state is State.OPEN


def test_unknown_frame_type_is_reported_with_its_ref() -> None:
    proto = opened()
    error = only_error(send(proto, {"type": "launch_rockets", "ref": "u"}))
    assert error["code"] == "unknown_frame_type"
    assert error["ref"] == "u"
    assert proto.state is State.OPEN


@pytest.mark.parametrize("frame", [{"ref": 1}, {"type": 5}, {"type": None},
                                   {"type": ["send"]}])
def test_a_frame_without_a_string_type_is_invalid(frame: dict[str, Any]) -> None:
    proto = opened()
    assert only_error(send(proto, frame))["code"] == "invalid_frame"


@pytest.mark.parametrize("frame", [
    {"type": "send", "channel_id": True, "client_id": "c", "body": "x"},
    {"type": "send", "channel_id": "7", "client_id": "c", "body": "x"},
    {"type": "send", "channel_id": -1, "client_id": "c", "body": "x"},
    {"type": "send", "channel_id": 1.0, "client_id": "c", "body": "x"},
    {"type": "send", "channel_id": 2**63, "client_id": "c", "body": "x"},
    {"type": "send", "channel_id": 1, "client_id": 5, "body": "x"},
    {"type": "send", "channel_id": 1, "client_id": "c", "body": None},
    {"type": "send", "channel_id": 1, "client_id": "c"},
    {"type": "edit", "message_id": False, "body": "x"},
    {"type": "edit", "message_id": 1, "body": ["x"]},
    {"type": "delete", "message_id": "1"},
    {"type": "delete"},
    {"type": "resync", "channel_id": 1, "after_seq": -5},
    {"type": "resync", "channel_id": 1},
    {"type": "read", "channel_id": 1, "seq": True},
    {"type": "read", "channel_id": 1, "seq": -1},
    {"type": "typing", "channel_id": "1"},
    {"type": "typing", "channel_id": -3},
], ids=lambda frame: f"{frame['type']}-{sorted(frame)}")
def test_fields_of_the_wrong_type_or_out_of_range_are_invalid(frame: dict[str, Any]) -> None:
    proto = opened()
    error = only_error(send(proto, {**frame, "ref": "bad"}))
    assert error["code"] == "invalid_frame"
    assert error["ref"] == "bad"
    assert proto.state is State.OPEN


# --- ref ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["", "x" * MAX_REF_CHARS, "参照", 0, -7, 2**70])
def test_short_strings_and_integers_are_valid_refs(ref: str | int) -> None:
    proto = opened()
    assert run_of(send(proto, {"type": "delete", "message_id": 1, "ref": ref})).ref == ref


@pytest.mark.parametrize("ref", ["x" * (MAX_REF_CHARS + 1), True, 1.5, ["r"], {"r": 1}])
def test_other_refs_are_refused_without_being_echoed(ref: Any) -> None:
    proto = opened()
    error = only_error(send(proto, {"type": "delete", "message_id": 1, "ref": ref}))
    assert error["code"] == "invalid_frame"
    assert "ref" not in error
    assert proto.state is State.OPEN


def test_a_bad_ref_on_the_auth_frame_closes_the_connection() -> None:
    proto = fresh()
    error, close = error_then_close(send(proto, {"type": "auth", "token": "t", "ref": False}))
    assert error["code"] == "invalid_frame"
    assert close.code == CLOSE_POLICY


# --- frame size --------------------------------------------------------------------------


def test_a_frame_of_exactly_max_frame_bytes_is_accepted() -> None:
    frame = text({"type": "send", "channel_id": 1, "client_id": "c", "body": "あ" * 50})
    proto = opened(Limits(max_frame_bytes=len(frame.encode())))
    assert run_of(checked(proto.receive_text(frame, now=0.0))).command == \
        SendMessage(1, "c", "あ" * 50)


def test_a_frame_one_byte_over_the_limit_is_too_large() -> None:
    frame = text({"type": "send", "channel_id": 1, "client_id": "c", "body": "a" * 50})
    proto = opened(Limits(max_frame_bytes=len(frame.encode()) - 1))
    error = only_error(checked(proto.receive_text(frame, now=0.0)))
    assert error["code"] == "frame_too_large"
    assert proto.state is State.OPEN


def test_frame_size_counts_utf8_bytes_not_characters() -> None:
    limit = 1000
    frame = text({"type": "send", "channel_id": 1, "client_id": "c", "body": "あ" * 400})
    assert len(frame) < limit < len(frame.encode())  # 'あ' is 3 bytes in UTF-8
    proto = opened(Limits(max_frame_bytes=limit))
    error = only_error(checked(proto.receive_text(frame, now=0.0)))
    assert error["code"] == "frame_too_large"


def test_a_frame_too_large_is_refused_even_if_it_is_not_json() -> None:
    proto = opened(Limits(max_frame_bytes=100))
    error = only_error(checked(proto.receive_text("{" * 101, now=0.0)))
    assert error["code"] == "frame_too_large"


def test_a_frame_too_large_before_auth_closes_with_policy_violation() -> None:
    proto = fresh(Limits(max_frame_bytes=100))
    error, close = error_then_close(send(proto, {"type": "auth", "token": "t" * 200}))
    assert error["code"] == "frame_too_large"
    assert close.code == CLOSE_POLICY


# --- binary frames -----------------------------------------------------------------------


def test_binary_frame_after_auth_is_an_invalid_frame_and_stays_open() -> None:
    proto = opened()
    error = only_error(checked(proto.receive_bytes(b'{"type":"ping"}', now=0.0)))
    assert error["code"] == "invalid_frame"
    assert proto.state is State.OPEN


def test_binary_frame_before_auth_closes_with_policy_violation() -> None:
    proto = fresh()
    actions = proto.receive_bytes(b"\x00\x01", now=0.0)
    assert len(actions) == 1
    assert isinstance(actions[0], Close)
    assert actions[0].code == CLOSE_POLICY
    assert proto.state is State.CLOSED


# --- rate limiting -----------------------------------------------------------------------

READ = {"type": "read", "channel_id": 1, "seq": 1}


def test_burst_is_allowed_then_frames_are_rate_limited() -> None:
    proto = opened(Limits(rate_per_second=1.0, burst=3, max_strikes=100))
    for _ in range(3):
        assert run_of(send(proto, READ, now=0.0)).command == MarkRead(1, 1)
    error = only_error(send(proto, {**READ, "ref": "r"}, now=0.0))
    assert error["code"] == "rate_limited"
    assert error["ref"] == "r"
    assert proto.state is State.OPEN


def test_tokens_refill_at_the_configured_rate() -> None:
    proto = opened(Limits(rate_per_second=2.0, burst=2, max_strikes=100))
    send(proto, READ, now=0.0)
    send(proto, READ, now=0.0)
    assert only_error(send(proto, READ, now=0.0))["code"] == "rate_limited"
    assert only_error(send(proto, READ, now=0.4))["code"] == "rate_limited"  # 0.8 tokens
    assert isinstance(run_of(send(proto, READ, now=0.5)), Run)  # 1.0 token
    assert only_error(send(proto, READ, now=0.5))["code"] == "rate_limited"


def test_refill_never_exceeds_the_burst() -> None:
    proto = opened(Limits(rate_per_second=10.0, burst=3, max_strikes=100))
    results = [send(proto, READ, now=1000.0) for _ in range(4)]
    assert all(isinstance(r[0], Run) for r in results[:3])
    assert only_error(results[3])["code"] == "rate_limited"


def test_ping_is_not_rate_limited() -> None:
    proto = opened(Limits(rate_per_second=1.0, burst=1, max_strikes=100))
    send(proto, READ, now=0.0)
    assert only_error(send(proto, READ, now=0.0))["code"] == "rate_limited"
    assert send(proto, {"type": "ping"}, now=0.0) == [Reply({"type": "pong"})]


def test_repeated_rate_limit_strikes_close_with_policy_violation() -> None:
    proto = opened(Limits(rate_per_second=1.0, burst=1, max_strikes=3))
    send(proto, READ, now=0.0)
    assert only_error(send(proto, READ, now=0.0))["code"] == "rate_limited"
    assert only_error(send(proto, READ, now=0.0))["code"] == "rate_limited"
    actions = send(proto, READ, now=0.0)
    assert len(actions) == 1
    assert isinstance(actions[0], Close)
    assert actions[0].code == CLOSE_POLICY
    assert proto.state is State.CLOSED


def test_an_accepted_frame_resets_the_strike_count() -> None:
    proto = opened(Limits(rate_per_second=1.0, burst=1, max_strikes=3))
    send(proto, READ, now=0.0)
    for _ in range(2):
        assert only_error(send(proto, READ, now=0.0))["code"] == "rate_limited"
    assert isinstance(run_of(send(proto, READ, now=1.0)), Run)
    for _ in range(2):
        assert only_error(send(proto, READ, now=1.0))["code"] == "rate_limited"
    assert proto.state is State.OPEN


# --- typing throttle ---------------------------------------------------------------------


def test_second_typing_in_the_same_channel_within_the_interval_yields_no_action() -> None:
    proto = opened(Limits(typing_interval=2.0))
    assert run_of(send(proto, {"type": "typing", "channel_id": 1}, now=10.0)).command == \
        Typing(1)
    assert send(proto, {"type": "typing", "channel_id": 1}, now=11.9) == []


def test_typing_throttle_is_per_channel() -> None:
    proto = opened(Limits(typing_interval=2.0))
    send(proto, {"type": "typing", "channel_id": 1}, now=10.0)
    assert run_of(send(proto, {"type": "typing", "channel_id": 2}, now=10.5)).command == \
        Typing(2)


def test_typing_is_allowed_again_once_the_interval_has_passed() -> None:
    proto = opened(Limits(typing_interval=2.0))
    send(proto, {"type": "typing", "channel_id": 1}, now=10.0)
    assert send(proto, {"type": "typing", "channel_id": 1}, now=11.0) == []
    assert run_of(send(proto, {"type": "typing", "channel_id": 1}, now=12.0)).command == \
        Typing(1)
    # The throttle window restarts from the last typing that was let through.
    assert send(proto, {"type": "typing", "channel_id": 1}, now=13.0) == []


# --- deadlines ---------------------------------------------------------------------------


def test_auth_deadline_counts_from_the_connection_opening() -> None:
    proto = fresh(Limits(auth_timeout=10.0), now=100.0)
    assert proto.next_deadline() == 110.0
    send(proto, {"type": "auth", "token": "t"}, now=105.0)
    assert proto.next_deadline() == 110.0


def test_no_auth_before_the_deadline_closes_with_policy_violation() -> None:
    proto = fresh(Limits(auth_timeout=10.0), now=100.0)
    assert proto.tick(now=109.9) == []
    actions = proto.tick(now=110.0)
    assert len(actions) == 1
    assert isinstance(actions[0], Close)
    assert actions[0].code == CLOSE_POLICY
    assert proto.state is State.CLOSED


def test_authentication_still_pending_at_the_deadline_closes() -> None:
    proto = authenticating(Limits(auth_timeout=10.0), now=100.0)
    actions = proto.tick(now=110.0)
    assert [a.code for a in actions if isinstance(a, Close)] == [CLOSE_POLICY]


def test_after_auth_the_deadline_is_the_idle_timeout_from_the_last_frame() -> None:
    proto = opened(Limits(auth_timeout=10.0, idle_timeout=90.0), now=100.0)
    assert proto.next_deadline() == 190.0
    send(proto, {"type": "ping"}, now=150.0)
    assert proto.next_deadline() == 240.0
    assert proto.tick(now=200.0) == []  # past the old deadline, before the new one


def test_idle_connection_is_closed_with_close_idle() -> None:
    proto = opened(Limits(idle_timeout=90.0), now=0.0)
    assert proto.tick(now=89.9) == []
    actions = proto.tick(now=90.0)
    assert len(actions) == 1
    assert isinstance(actions[0], Close)
    assert actions[0].code == CLOSE_IDLE == 4000
    assert proto.state is State.CLOSED


def test_any_frame_counts_as_activity_even_an_invalid_one() -> None:
    proto = opened(Limits(idle_timeout=90.0), now=0.0)
    proto.receive_text("garbage", now=80.0)
    assert proto.tick(now=120.0) == []
    assert proto.next_deadline() == 170.0


# --- session end and the closed state ----------------------------------------------------


def test_session_ended_closes_with_close_session_ended() -> None:
    proto = opened()
    assert proto.session_ended("revoked") == [Close(CLOSE_SESSION_ENDED, "revoked")]
    assert proto.state is State.CLOSED


def test_once_closed_further_input_yields_no_actions() -> None:
    proto = opened(Limits(idle_timeout=1.0))
    assert proto.tick(now=5.0) != []
    assert proto.state is State.CLOSED
    assert proto.receive_text(text({"type": "ping"}), now=6.0) == []
    assert proto.receive_text("garbage", now=6.0) == []
    assert proto.receive_bytes(b"x", now=6.0) == []
    assert proto.tick(now=100.0) == []
    assert proto.session_ended("revoked") == []


def test_closed_before_auth_ignores_a_late_auth_frame() -> None:
    proto = fresh()
    send(proto, {"type": "ping"})
    assert proto.state is State.CLOSED
    assert send(proto, {"type": "auth", "token": "t"}) == []
    assert proto.state is State.CLOSED


def test_flooding_malformed_frames_is_rate_limited_and_then_closed() -> None:
    proto = opened(Limits(rate_per_second=1.0, burst=2, max_strikes=3))
    codes = [a.frame["code"] for t in range(4)
             for a in proto.receive_text("{broken", now=0.0) if isinstance(a, Reply)]
    assert codes == ["malformed_json", "malformed_json", "rate_limited", "rate_limited"]
    assert proto.receive_text("{broken", now=0.0) == [Close(1008, "rate limit exceeded repeatedly")]


def test_an_internal_error_replies_then_closes_with_1011() -> None:
    proto = opened(Limits())
    actions = proto.internal_error()
    assert isinstance(actions[0], Reply) and actions[0].frame["code"] == "internal_error"
    assert actions[1] == Close(1011, "internal error")
    assert proto.internal_error() == []


def test_a_store_unavailable_at_auth_says_so_then_closes_1013_not_1008() -> None:
    """1008 would tell the page its sign-in was refused; the store is only busy."""
    proto = opened(Limits())
    actions = proto.unavailable(StorageUnavailable(), "a1")
    assert isinstance(actions[0], Reply)
    assert actions[0].frame["code"] == "storage_unavailable"
    assert actions[0].frame["ref"] == "a1" and actions[0].frame["retry_after_ms"] > 0
    assert actions[1] == Close(1013, "storage unavailable")


def test_the_node_restarting_says_when_to_come_back_then_closes_1012() -> None:
    proto = opened(Limits())
    actions = proto.server_restarting()
    assert isinstance(actions[0], Reply)
    assert actions[0].frame == {"type": "server.restarting", "retry_after_ms": 500}
    assert actions[1] == Close(1012, "server restarting")
    assert proto.server_restarting() == []


# --- text no database can store -------------------------------------------------------------


@pytest.mark.parametrize("escaped", ["\\ud800", "a\\udfffb", "\\uDBFF"])
def test_a_lone_surrogate_escape_is_refused_as_malformed_without_closing(escaped: str) -> None:
    """JSON may escape half of a UTF-16 pair; no database stores it (found by the OpenAPI
    fuzz on the HTTP side: the same rule holds for frames)."""
    proto = opened()
    raw = ('{"type": "send", "channel_id": 7, "client_id": "c", "body": "' + escaped
           + '", "ref": "s1"}')
    error = only_error(checked(proto.receive_text(raw, now=0.0)))
    assert error["code"] == "malformed_json"
    assert error.get("ref") == "s1"


def test_an_escaped_surrogate_pair_is_one_character_and_accepted() -> None:
    proto = opened()
    raw = '{"type": "send", "channel_id": 7, "client_id": "c", "body": "\\ud83d\\ude00"}'
    assert run_of(proto.receive_text(raw, now=0.0)) == Run(SendMessage(7, "c", "😀"), None)
