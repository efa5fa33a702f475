"""POST /pbx/events against a real server: signatures (Standard Webhooks, signed by the
``standardwebhooks`` package), the replay window, retries, malformed and unknown events,
secret rotation, the event log and the call state with events out of order and twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from chat.domain.pbx_formats.standard import new_secret
from tests.conftest import ServerFactory
from tests.integration.pbx_helpers import (
    SUZUKI,
    SUZUKI_EXT,
    call_event,
    connect,
    event_log,
    make_secret,
    post_event,
    signed_headers,
    stored_call,
)
from tests.support import RunningServer, run_tsunagu


def new_call_id() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


async def test_secret_add_prints_it_once_and_list_and_retire_manage_it(
        server: RunningServer) -> None:
    added = await run_tsunagu(server, "pbx", "secret", "add", "pbx-2026")
    assert added.returncode == 0, added.stderr
    secret = next(line for line in added.stdout.splitlines() if line.startswith("whsec_"))
    listed = await run_tsunagu(server, "pbx", "secret", "list")
    assert listed.returncode == 0 and "pbx-2026" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout and "whsec_" not in listed.stdout
    again = await run_tsunagu(server, "pbx", "secret", "add", "pbx-2026")
    assert again.returncode == 1 and "pbx_secret_exists" in again.stderr

    call_id = new_call_id()
    ok = await post_event(server, secret, call_event("call.ringing", call_id))
    assert ok.status_code == 200, ok.text
    retired = await run_tsunagu(server, "pbx", "secret", "retire", "pbx-2026")
    assert retired.returncode == 0 and "retired" in retired.stdout
    refused = await post_event(server, secret, call_event("call.answered", call_id))
    assert refused.status_code == 401
    audit = await run_tsunagu(server, "audit", "verify")
    assert audit.returncode == 0, audit.stderr


async def test_a_signed_event_is_stored_applied_and_answered(server: RunningServer) -> None:
    secret = make_secret(server)
    call_id = new_call_id()
    response = await post_event(server, secret, call_event("call.ringing", call_id),
                                msg_id="msg_first")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "applied" and answer["call_state"] == "ringing"
    assert ("msg_first", "applied", call_id) in event_log(server)
    call = stored_call(server, call_id)
    assert call is not None and call["state"] == "ringing" and call["presence"] == "ringing"


async def test_bad_or_missing_signatures_are_refused_with_401(server: RunningServer) -> None:
    secret = make_secret(server)
    event = call_event("call.ringing", new_call_id())
    body = json.dumps(event)
    good = signed_headers(secret, body)
    cases = {
        "unsigned": {"content-type": "application/json"},
        "no id": {k: v for k, v in good.items() if k != "webhook-id"},
        "no timestamp": {k: v for k, v in good.items() if k != "webhook-timestamp"},
        "no signature": {k: v for k, v in good.items() if k != "webhook-signature"},
        "another key": signed_headers(new_secret(), body, msg_id=good["webhook-id"]),
        "malformed": {**good, "webhook-signature": "v1,not base64!!"},
        "other id": {**good, "webhook-id": "msg_other"},
    }
    for name, headers in cases.items():
        response = await post_event(server, secret, body, headers=headers)
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "invalid_signature", name
    tampered = await post_event(server, secret, body.replace("2101", "2102"), headers=good)
    assert tampered.status_code == 401
    assert event_log(server) == []


async def test_timestamps_outside_five_minutes_are_refused(server: RunningServer) -> None:
    secret = make_secret(server)
    now = datetime.now(UTC)
    for skew in (timedelta(minutes=-6), timedelta(minutes=6)):
        response = await post_event(server, secret, call_event("call.ringing", new_call_id()),
                                    at=now + skew)
        assert response.status_code == 401
    inside = await post_event(server, secret, call_event("call.ringing", new_call_id()),
                              at=now - timedelta(minutes=4))
    assert inside.status_code == 200


async def test_a_retried_webhook_id_answers_200_with_no_second_effect(
        server: RunningServer) -> None:
    secret = make_secret(server)
    suzuki = await connect(server, SUZUKI)
    call_id = new_call_id()
    await post_event(server, secret, call_event("call.ringing", call_id))
    missed = call_event("call.missed", call_id, reason="no_answer")
    first = await post_event(server, secret, missed, msg_id="msg_retry")
    # A retry is a new attempt: same id and body, a new timestamp and signature.
    retries = await asyncio.gather(*[
        post_event(server, secret, missed, msg_id="msg_retry",
                   at=datetime.now(UTC) + timedelta(seconds=i)) for i in range(3)])
    assert first.status_code == 200 and first.json()["status"] == "applied"
    for retry in retries:
        assert retry.status_code == 200 and retry.json()["status"] == "duplicate"
        assert retry.json()["event_id"] == first.json()["event_id"]
    notice = await suzuki.expect("message", lambda f: f["message"]["kind"] == "call.missed")
    await suzuki.expect_nothing("message", within=0.5)
    assert notice["message"]["data"]["count"] == 1
    assert [d for d, _, _ in event_log(server)].count("msg_retry") == 1


async def test_malformed_bodies_get_400_naming_the_field(server: RunningServer) -> None:
    secret = make_secret(server)
    cases = {
        "body": "{not json",
        "call_id": {k: v for k, v in call_event("call.ringing", "x").items() if k != "call_id"},
        "occurred_at": call_event("call.ringing", "x") | {"occurred_at": "nine o'clock"},
        "direction": call_event("call.ringing", "x") | {"direction": "sideways"},
        "extension": call_event("call.ringing", "x") | {"extension": "内線"},
        "reason": call_event("call.missed", "x") | {"reason": "lunch"},
    }
    for field, body in cases.items():
        response = await post_event(server, secret, body if isinstance(body, str)
                                    else json.dumps(body))
        assert response.status_code == 400, field
        error = response.json()["error"]
        assert error["code"] == "invalid_event" and error["field"] == field, error
    assert event_log(server) == []


async def test_unknown_event_types_are_recorded_and_ignored_with_202(
        server: RunningServer) -> None:
    secret = make_secret(server)
    call_id = new_call_id()
    response = await post_event(server, secret, {"type": "call.transferred",
                                                 "call_id": call_id, "to": "2102"},
                                msg_id="msg_unknown")
    assert response.status_code == 202 and response.json()["status"] == "ignored"
    assert event_log(server) == [("msg_unknown", "ignored", call_id)]
    assert stored_call(server, call_id) is None


async def test_several_secrets_may_be_active_during_rotation(server: RunningServer) -> None:
    old = make_secret(server, "pbx-old")
    new = make_secret(server, "pbx-new")
    call_id = new_call_id()
    assert (await post_event(server, old, call_event("call.ringing", call_id))).status_code == 200
    body = json.dumps(call_event("call.answered", call_id))
    now = datetime.now(UTC)
    # The PBX may list both signatures while it switches (space-separated).
    both = signed_headers(old, body, msg_id="msg_both", at=now)
    both["webhook-signature"] += " " + Webhook(new).sign("msg_both", now, body)
    assert (await post_event(server, new, body, headers=both)).status_code == 200
    assert (await post_event(server, new, call_event("call.ended", call_id))).status_code == 200
    call = stored_call(server, call_id)
    assert call is not None and call["state"] == "ended"


async def test_events_out_of_order_and_twice_still_give_the_right_call(
        server: RunningServer) -> None:
    secret = make_secret(server)
    call_id = new_call_id()
    t0 = datetime.now(UTC) - timedelta(minutes=2)
    ring = call_event("call.ringing", call_id, at=t0)
    answer = call_event("call.answered", call_id, at=t0 + timedelta(seconds=5))
    end = call_event("call.ended", call_id, at=t0 + timedelta(seconds=65))
    deliveries = [("m3", end), ("m1", ring), ("m3", end), ("m2", answer), ("m1", ring)]
    answers = [await post_event(server, secret, e, msg_id=m) for m, e in deliveries]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["status"] for a in answers] == [
        "applied", "applied", "duplicate", "applied", "duplicate"]
    assert [a.json()["call_state"] for a in answers if a.json()["status"] != "duplicate"] \
        == ["ended", "ended", "ended"]
    call = stored_call(server, call_id)
    assert call is not None
    assert call["state"] == "ended" and call["presence"] is None
    assert call["answered_at"] == t0 + timedelta(seconds=5)
    assert call["notice_message_id"] is None          # an answered call is no missed call
    # A fresh delivery of an old fact (new id) is logged, and changes nothing.
    late = await post_event(server, secret, ring, msg_id="m4")
    assert late.json() == {"status": "no_change", "event_id": late.json()["event_id"],
                           "call_state": "ended"}


async def test_the_simulator_posts_signed_scenarios(server: RunningServer) -> None:
    make_secret(server, "sim")
    result = await run_tsunagu(server, "pbx", "simulate", "shuffled", "--secret-name", "sim",
                               "--pause", "0", "--hold", "0", "--url", server.http_url,
                               "--extension", SUZUKI_EXT)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum("-> 200 duplicate" in line for line in lines) == 3
    call_id = lines[0].split()[1]
    call = stored_call(server, call_id)
    assert call is not None and call["state"] == "ended"


async def test_the_retention_run_blanks_the_numbers_of_an_old_event_log(
        make_server: ServerFactory) -> None:
    """After CHAT_PBX_LOG_DAYS (90) the retention run blanks the event log's raw bodies
    and the calls' numbers (callers' personal data), audited by id range; the delivery
    ids stay, so a late retry is still a duplicate. Younger entries keep theirs."""
    from chat.actions import retention as retention_actions
    from chat.actions.pbx_ingest import recent_events
    from chat.context import open_context
    from tests.support import ManualClock, beside, in_own_thread, sql

    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    secret = make_secret(server)
    old_call, recent_call = new_call_id(), new_call_id()
    await post_event(server, secret, call_event("call.ringing", old_call, at=clock.now()),
                     msg_id="msg_old_1", at=clock.now())
    missed = call_event("call.missed", old_call, reason="no_answer", at=clock.now())
    assert (await post_event(server, secret, missed, msg_id="msg_old_2",
                             at=clock.now())).json()["status"] == "applied"
    clock.advance(60 * 86400)
    await post_event(server, secret, call_event("call.ringing", recent_call, at=clock.now()),
                     msg_id="msg_recent", at=clock.now())
    clock.advance(31 * 86400)

    def run(dry_run: bool) -> Any:
        async def main() -> Any:
            async with open_context(beside(server.settings), clock=clock) as ctx:
                report = await retention_actions.run_retention(ctx, by="test",
                                                               dry_run=dry_run)
                return report, await recent_events(ctx)
        return in_own_thread(lambda: asyncio.run(main()))

    def numbers() -> dict[str, tuple[Any, Any]]:
        return {row[0]: (row[1], row[2]) for row in sql(
            server, "SELECT call_id, from_number, to_number FROM pbx_calls")}

    dry, _ = run(True)
    assert (dry.pbx_events_blanked, dry.pbx_calls_blanked) == (2, 1)
    assert numbers()[old_call][0] == "+81312345678"

    report, events = run(False)
    assert (report.pbx_events_blanked, report.pbx_calls_blanked) == (2, 1)
    bodies = {e["delivery_id"]: e["payload"] for e in events}
    assert bodies["msg_old_1"] is None and bodies["msg_old_2"] is None
    assert bodies["msg_recent"]["from"] == "03-1234-5678"
    assert numbers()[old_call] == (None, None)
    assert numbers()[recent_call][0] == "+81312345678"
    assert "1234" not in json.dumps([row[0] for row in sql(
        server, "SELECT payload FROM pbx_events WHERE delivery_id LIKE 'msg_old_%'")])
    audited = [json.loads(row[0]) for row in sql(
        server, "SELECT detail FROM audit_events WHERE action LIKE 'pbx.%_blanked' "
                "ORDER BY seq")]
    assert [(d["count"], d["run_id"] == report.run_id) for d in audited] == [
        (2, True), (1, True)]
    # A late retry of a blanked delivery is still known.
    retry = await post_event(server, secret, missed, msg_id="msg_old_2", at=clock.now())
    assert retry.status_code == 200 and retry.json()["status"] == "duplicate"
    assert run(False)[0].pbx_events_blanked == 0
