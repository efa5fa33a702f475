"""Twilio Voice status callbacks at POST /pbx/twilio/status, signed by ``twilio``'s
``RequestValidator``: mapped to the same calls, presence and notices; refused unsigned;
checked over the public URL behind a reverse proxy."""

from __future__ import annotations

import uuid

from tests.conftest import ServerFactory
from tests.integration.pbx_helpers import (
    SUZUKI,
    TANAKA,
    connect,
    make_secret,
    post_twilio,
    stored_call,
)
from tests.support import RunningServer

TOKEN = "0123456789abcdef0123456789abcdef"
DID = "+81355550001"          # the city's number that Twilio receives calls on
DIRECTORY = f"number,kind,target,name\n{DID},user,{SUZUKI},\n"


def callback(call_sid: str, status: str, sequence: int, **extra: str) -> dict[str, str]:
    return {"AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "CallSid": call_sid,
            "CallStatus": status, "Direction": "inbound", "From": "+81312345678",
            "To": DID, "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence), **extra}


async def setup(server: RunningServer, tmp_path: object) -> None:
    from pathlib import Path

    from tests.support import run_tsunagu

    make_secret(server, "twilio-primary", kind="twilio", value=TOKEN)
    path = Path(str(tmp_path)) / "directory.csv"
    path.write_text(DIRECTORY, encoding="utf-8")
    result = await run_tsunagu(server, "pbx", "directory", "import", str(path))
    assert result.returncode == 0, result.stderr


async def test_twilio_callbacks_drive_presence_and_missed_call_notices(
        server: RunningServer, tmp_path: object) -> None:
    await setup(server, tmp_path)
    watcher = await connect(server, TANAKA)
    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    me = suzuki.ready["user"]["id"]
    sid = "CA" + uuid.uuid4().hex
    # Out of order (Twilio says: order by SequenceNumber) and retried.
    no_answer = callback(sid, "no-answer", 2, CallDuration="0")
    for params in (no_answer, callback(sid, "ringing", 1), no_answer):
        response = await post_twilio(server, TOKEN, params)
        assert response.status_code == 200, response.text
    notice = (await suzuki.expect("message",
                                  lambda f: f["message"]["kind"] == "call.missed"))["message"]
    assert notice["data"]["caller"]["display"] == "03-1234-5678"
    assert notice["data"]["reason"] == "no_answer"
    await suzuki.expect_nothing("message", within=0.3)
    call = stored_call(server, sid, source="twilio")
    assert call is not None and call["state"] == "missed"
    # The retry is not logged twice; the late ringing only fills in when it rang.
    assert call["events"] == [("call.missed", "applied"), ("call.ringing", "applied")]

    answered = "CA" + uuid.uuid4().hex
    await post_twilio(server, TOKEN, callback(answered, "ringing", 0))
    await watcher.expect("call.presence", lambda f: f["user_id"] == me
                         and f["status"] == "ringing")
    await post_twilio(server, TOKEN, callback(answered, "in-progress", 1))
    await watcher.expect("call.presence", lambda f: f["user_id"] == me
                         and f["status"] == "on_call")
    await post_twilio(server, TOKEN, callback(answered, "completed", 2, CallDuration="42"))
    await watcher.expect("call.presence", lambda f: f["user_id"] == me
                         and f["status"] == "idle")
    queued = await post_twilio(server, TOKEN, callback("CA" + uuid.uuid4().hex, "queued", 0))
    assert queued.status_code == 202


async def test_unsigned_or_wrongly_signed_callbacks_are_refused(
        server: RunningServer, tmp_path: object) -> None:
    await setup(server, tmp_path)
    params = callback("CA" + uuid.uuid4().hex, "ringing", 0)
    wrong_token = await post_twilio(server, "f" * 32, params)
    assert wrong_token.status_code == 401
    other_url = await post_twilio(server, TOKEN, params,
                                  signed_url=f"{server.http_url}/pbx/twilio/other")
    assert other_url.status_code == 401
    # A parameter added after signing breaks the signature too.
    import httpx
    from twilio.request_validator import RequestValidator
    signature = RequestValidator(TOKEN).compute_signature(
        f"{server.http_url}/pbx/twilio/status", params)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        extra = await http.post("/pbx/twilio/status", data={**params, "To": "+81300000000"},
                                headers={"x-twilio-signature": signature})
        missing = await http.post("/pbx/twilio/status", data=params)
    assert extra.status_code == 401 and missing.status_code == 401
    assert extra.json()["error"]["code"] == "invalid_signature"


async def test_behind_a_reverse_proxy_the_public_url_is_what_twilio_signed(
        make_server: ServerFactory, tmp_path: object) -> None:
    server = make_server(public_url="https://chat.city.example")
    await setup(server, tmp_path)
    params = callback("CA" + uuid.uuid4().hex, "ringing", 0)
    public = "https://chat.city.example/pbx/twilio/status?tenant=hall"
    ok = await post_twilio(server, TOKEN, params, signed_url=public,
                           path="/pbx/twilio/status?tenant=hall", host="chat.city.example")
    assert ok.status_code == 200, ok.text
    # Twilio's validator also accepts the URL with the default port spelled out.
    params = callback("CA" + uuid.uuid4().hex, "ringing", 0)
    with_port = await post_twilio(
        server, TOKEN, params, signed_url="https://chat.city.example:443/pbx/twilio/status",
        path="/pbx/twilio/status")
    assert with_port.status_code == 200, with_port.text
    # What this node sees (http, its own address) is not what Twilio signed.
    params = callback("CA" + uuid.uuid4().hex, "ringing", 0)
    internal = await post_twilio(server, TOKEN, params)
    assert internal.status_code == 401


async def test_the_cli_stores_an_auth_token_by_kind_and_lists_the_kind(
        server: RunningServer) -> None:
    from tests.support import run_tsunagu

    added = await run_tsunagu(server, "pbx", "secret", "add", "twilio-cli", "--kind", "twilio",
                              stdin=TOKEN + "\n")
    assert added.returncode == 0, added.stderr
    assert "Twilio Auth Token 'twilio-cli' stored" in added.stdout
    assert "/pbx/twilio/status" in added.stdout and TOKEN not in added.stdout
    listed = await run_tsunagu(server, "pbx", "secret", "list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith("twilio-cli"))
    assert row.split()[1] == "twilio" and row.endswith("active")
    accepted = await post_twilio(server, TOKEN, callback("CA" + uuid.uuid4().hex, "queued", 0))
    assert accepted.status_code == 202, accepted.text
    # An unregistered kind, and the old --twilio flag, are usage errors.
    unknown = await run_tsunagu(server, "pbx", "secret", "add", "x", "--kind", "asterisk")
    assert unknown.returncode == 2 and "invalid choice: 'asterisk'" in unknown.stderr
    old_flag = await run_tsunagu(server, "pbx", "secret", "add", "x", "--twilio")
    assert old_flag.returncode == 2 and "unrecognized arguments: --twilio" in old_flag.stderr
