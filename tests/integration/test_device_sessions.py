"""Device-bound sessions end to end over real sockets: enrollment codes, passkey sign-in,
DPoP proofs on every request and on the websocket, and every way they are refused.

The client is ``chat.client`` (a software device key and passkey authenticator); refused
requests are built by hand with httpx so each test changes exactly one thing.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets

from chat.client import ClientError, DeviceKey, TsunaguClient
from chat.store.uow import TxMode
from tests.conftest import ServerFactory
from tests.support import (
    FRAME_TIMEOUT,
    ManualClock,
    RunningServer,
    device_client,
    enrollment_code,
    read_until_closed,
    run_tsunagu,
    signed_in,
)
from tests.support.people import SUZUKI, TAKAHASHI, TANAKA


async def fresh_nonce(server: RunningServer) -> str:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get("/auth/nonce")
    nonce: str = response.json()["nonce"]
    assert response.headers["dpop-nonce"]
    return nonce


def me_url(server: RunningServer) -> str:
    return f"{server.http_url}/api/me"


async def get_me(server: RunningServer, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(me_url(server), headers=headers)


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{code}"' in challenge
    assert 'algs="ES256"' in challenge
    assert response.headers["dpop-nonce"]


async def audit_actions(server: RunningServer) -> list[dict[str, Any]]:
    """The audit log as the database holds it (read with the server's own store)."""
    from chat.context import open_context
    from chat.store.uow import unit_of_work
    from tests.support import beside, in_own_thread

    async def read() -> list[dict[str, Any]]:
        async with open_context(beside(server.settings)) as ctx, \
                unit_of_work(ctx.db, TxMode.READ) as uow:
            events = await uow.audit.recent(limit=200)
            return [{"action": e.action, "outcome": e.outcome,
                     "subject": e.subject_user_id, "device": e.device_id,
                     "detail": json.loads(e.detail)} for e in events]

    result: list[dict[str, Any]] = in_own_thread(lambda: asyncio.run(read()))
    return result


# --- enrollment --------------------------------------------------------------------------


async def test_enroll_sign_in_and_chat_with_every_request_proven(server: RunningServer
                                                                 ) -> None:
    client = await signed_in(server)
    async with client:
        me = await client.request("GET", "/api/me")
        assert me.status_code == 200
        assert me.json()["staff_number"] == SUZUKI
        assert me.json()["session"]["bound"] is True
        assert me.headers["cache-control"] == "no-store"
        ws, ready = await client.connect()
        try:
            channel_id = next(c["id"] for c in ready["channels"]
                              if c["kind"] == "department")
            await ws.send(json.dumps({"type": "send", "channel_id": channel_id,
                                      "client_id": "c-1", "body": "端末から送信"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
                assert frame["type"] != "error", frame
                if frame["type"] == "ack":
                    break
            assert frame["message"]["body"] == "端末から送信"
        finally:
            await ws.close()
    actions = {e["action"] for e in await audit_actions(server)}
    assert {"device.enrollment_code_created", "device.enrolled",
            "session.signed_in"} <= actions


async def test_the_cli_prints_a_one_time_link_and_qr_code(server: RunningServer) -> None:
    result = await run_tsunagu(server, "device", "enroll", TANAKA, "--label", "防災係 iPhone")
    assert result.returncode == 0, result.stderr
    assert "田中" in result.stdout and "防災係 iPhone" in result.stdout
    link = next(word for word in result.stdout.split() if "/enroll#code=" in word)
    assert link.startswith(f"http://localhost:{server.port}/enroll#code=")
    assert "█" in result.stdout or "▀" in result.stdout  # the QR code, on the terminal
    code = link.split("#code=", 1)[1]
    async with device_client(server) as client:
        enrolled = await client.enroll(code)
        assert enrolled["device"]["label"] == "防災係 iPhone"
        await client.sign_in()
    listing = await run_tsunagu(server, "device", "list", TANAKA)
    assert listing.returncode == 0 and "防災係 iPhone" in listing.stdout
    assert "active" in listing.stdout


async def test_a_code_works_once_and_unknown_codes_are_refused(server: RunningServer
                                                               ) -> None:
    code = enrollment_code(server, SUZUKI)
    async with device_client(server) as first:
        await first.enroll(code)
    async with device_client(server) as second:
        with pytest.raises(ClientError) as used:
            await second.enroll(code)
        assert (used.value.status, used.value.code) == (409, "enrollment_code_used")
        with pytest.raises(ClientError) as unknown:
            await second.enroll("not-a-code")
        assert (unknown.value.status, unknown.value.code) == (404, "enrollment_code_invalid")
    refusals = [e for e in await audit_actions(server) if e["action"] == "device.enroll_failed"]
    assert {e["detail"]["reason"] for e in refusals} >= {"enrollment_code_used",
                                                          "enrollment_code_invalid"}


async def test_an_expired_code_is_refused(make_server: ServerFactory) -> None:
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    code = enrollment_code(server, SUZUKI, ttl_seconds=60)
    # The code was made on the wall clock, after the server's start (seconds, on a busy
    # machine): the server's clock moves to a minute past that, not past its own start.
    clock.set(datetime.now(UTC) + timedelta(seconds=61))
    async with device_client(server) as client:
        with pytest.raises(ClientError) as expired:
            await client.enroll(code)
    assert (expired.value.status, expired.value.code) == (410, "enrollment_code_expired")


async def test_enrollment_needs_a_proof_and_one_key_enrolls_once(server: RunningServer
                                                                 ) -> None:
    client = device_client(server)
    async with client:
        await client.enroll(enrollment_code(server, SUZUKI))
    # The same device key again, with another code and a new passkey: refused.
    async with device_client(server, client.device_key) as again_client:
        with pytest.raises(ClientError) as again:
            await again_client.enroll(enrollment_code(server, SUZUKI))
        assert (again.value.status, again.value.code) == (409, "device_key_in_use")
    code = enrollment_code(server, TAKAHASHI)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        options = (await http.post("/auth/enroll/options", json={"code": code})).json()
        assert options["user"]["name"] == "高橋 健"
        assert options["publicKey"]["authenticatorSelection"]["userVerification"] == "required"
        assert options["publicKey"]["rp"]["id"] == "localhost"
        response = await http.post("/auth/enroll/complete", json={"code": code,
                                                                  "credential": {}})
    assert_refused(response, "invalid_dpop_proof")


async def test_a_passkey_without_user_verification_is_refused(server: RunningServer) -> None:
    client = device_client(server)
    assert client.authenticator is not None
    client.authenticator.user_verified = False
    async with client:
        with pytest.raises(ClientError) as refused:
            await client.enroll(enrollment_code(server, SUZUKI))
    assert (refused.value.status, refused.value.code) == (400, "passkey_invalid")


async def test_an_rs256_passkey_enrolls_and_signs_in(server: RunningServer) -> None:
    """Some Windows Hello / TPM authenticators on office PCs make only RS256 keys."""
    from chat.client import SoftwareAuthenticator
    from chat.client.authenticator import COSE_ALG_RS256

    async with httpx.AsyncClient(base_url=server.http_url) as http:
        options = (await http.post("/auth/enroll/options",
                                   json={"code": enrollment_code(server, SUZUKI)})).json()
    assert [p["alg"] for p in options["publicKey"]["pubKeyCredParams"]] == [-7, -8, -257]

    authenticator = SoftwareAuthenticator("localhost", f"http://localhost:{server.port}",
                                          algorithm=COSE_ALG_RS256)
    client = device_client(server, authenticator=authenticator)
    async with client:
        await client.enroll(enrollment_code(server, SUZUKI))
        await client.sign_in()
        me = await client.request("GET", "/api/me")
        assert me.status_code == 200 and me.json()["staff_number"] == SUZUKI
        # A second sign-in checks the stored RSA key and the risen sign count again.
        await client.sign_in()
    assert [e["outcome"] for e in await audit_actions(server)
            if e["action"] == "session.signed_in"] == ["ok", "ok"]


# --- sign-in -----------------------------------------------------------------------------


async def test_the_passkey_signs_in_only_from_its_own_device(server: RunningServer) -> None:
    client = device_client(server)
    async with client:
        await client.enroll(enrollment_code(server, SUZUKI))
    # The passkey synced to another phone (same authenticator), another device key.
    thief = TsunaguClient(server.http_url, DeviceKey.generate(),
                          authenticator=client.authenticator, origin=client.origin)
    async with thief:
        with pytest.raises(ClientError) as refused:
            await thief.sign_in()
    assert (refused.value.status, refused.value.code) == (401, "device_mismatch")
    failures = [e for e in await audit_actions(server)
                if e["action"] == "session.sign_in_failed"]
    assert failures and failures[0]["detail"]["reason"] == "device_mismatch"


async def test_an_unknown_passkey_and_a_replayed_assertion_are_refused(
        server: RunningServer) -> None:
    client = device_client(server)
    async with client:
        await client.enroll(enrollment_code(server, SUZUKI))
        options = (await client.request("POST", "/auth/signin/options", json={})).json()
        assert options["publicKey"]["userVerification"] == "required"
        assert client.authenticator is not None
        assertion = client.authenticator.get_assertion(options["publicKey"],
                                                       origin=client.origin)
        first = await client.request("POST", "/auth/signin", json={"credential": assertion})
        assert first.status_code == 200, first.text
        assert "token" not in first.json()
        replay = await client.request("POST", "/auth/signin", json={"credential": assertion})
        assert replay.status_code == 401
        assert replay.json()["error"]["code"] == "passkey_invalid"
        # A passkey this server never enrolled (its credential id is unknown here).
        options = (await client.request("POST", "/auth/signin/options", json={})).json()
        assertion = client.authenticator.get_assertion(options["publicKey"],
                                                       origin=client.origin)
        assertion["id"] = assertion["rawId"] = "AAAAAAAAAAAAAAAAAAAAAA"
        unknown = await client.request("POST", "/auth/signin", json={"credential": assertion})
        assert unknown.status_code == 401
        assert unknown.json()["error"]["code"] == "passkey_invalid"
        # And garbage in place of a credential.
        garbage = await client.request("POST", "/auth/signin", json={"credential": "x"})
        assert garbage.status_code == 401


async def test_the_session_cookie_is_httponly_strict_and_not_secure_on_loopback(
        server: RunningServer) -> None:
    client = device_client(server)
    async with client:
        await client.enroll(enrollment_code(server, SUZUKI))
        options = (await client.request("POST", "/auth/signin/options", json={})).json()
        assert client.authenticator is not None
        assertion = client.authenticator.get_assertion(options["publicKey"],
                                                       origin=client.origin)
        response = await client.request("POST", "/auth/signin",
                                        json={"credential": assertion})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tsunagu_session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # http on loopback; Secure everywhere else


# --- proofs on every request -------------------------------------------------------------


async def test_each_kind_of_bad_proof_is_refused(server: RunningServer) -> None:
    client = await signed_in(server)
    token = client.token
    assert token is not None
    key = client.device_key
    url = me_url(server)

    async def with_proof(proof: str, scheme: str = "DPoP") -> httpx.Response:
        return await get_me(server, {"Authorization": f"{scheme} {token}", "DPoP": proof})

    nonce = await fresh_nonce(server)
    good = key.proof("GET", url, nonce=nonce, access_token=token)
    assert (await with_proof(good)).status_code == 200
    # A replayed jti: the very same proof again.
    assert_refused(await with_proof(good), "invalid_dpop_proof")
    # No proof at all.
    assert_refused(await get_me(server, {"Authorization": f"DPoP {token}"}),
                   "invalid_dpop_proof")
    # A proof from another key (a stolen token replayed from another machine).
    other = DeviceKey.generate()
    assert_refused(await with_proof(other.proof("GET", url, nonce=nonce, access_token=token)),
                   "invalid_dpop_proof")
    # Stale iat.
    assert_refused(await with_proof(key.proof("GET", url, nonce=nonce, access_token=token,
                                              iat=int(time.time()) - 600)),
                   "invalid_dpop_proof")
    # Wrong htm, wrong htu.
    assert_refused(await with_proof(key.proof("POST", url, nonce=nonce, access_token=token)),
                   "invalid_dpop_proof")
    assert_refused(await with_proof(key.proof("GET", f"{server.http_url}/api/channels",
                                              nonce=nonce, access_token=token)),
                   "invalid_dpop_proof")
    # ath for another token.
    assert_refused(await with_proof(key.proof("GET", url, nonce=nonce,
                                              access_token="another-token")),
                   "invalid_dpop_proof")
    # A nonce this server never issued, or none: sign again with the one we send.
    for bad_nonce in ("forged-nonce", None):
        response = await with_proof(key.proof("GET", url, nonce=bad_nonce,
                                              access_token=token))
        assert_refused(response, "use_dpop_nonce")
        retry = key.proof("GET", url, nonce=response.headers["dpop-nonce"],
                          access_token=token)
        assert (await with_proof(retry)).status_code == 200
    # A DPoP-bound session presented as Bearer (downgrade, RFC 9449 §7.2).
    bearer = await with_proof(key.proof("GET", url, nonce=nonce, access_token=token),
                              scheme="Bearer")
    assert_refused(bearer, "invalid_token")
    # The client library signs again by itself when its nonce is refused.
    client.nonce = "forged-nonce"
    assert (await client.request("GET", "/api/me")).status_code == 200
    # Two DPoP headers.
    doubled = await get_me(server, {"Authorization": f"DPoP {token}"} | {
        "DPoP": good + ", " + good})
    assert_refused(doubled, "invalid_dpop_proof")
    await client.aclose()


async def test_a_stale_nonce_asks_for_a_new_one(make_server: ServerFactory) -> None:
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock})
    client = await signed_in(server)
    token = client.token
    assert token is not None
    nonce = await fresh_nonce(server)
    clock.advance(301)
    proof = client.device_key.proof("GET", me_url(server), nonce=nonce, access_token=token,
                                    iat=int(clock.now().timestamp()))
    response = await get_me(server, {"Authorization": f"DPoP {token}", "DPoP": proof})
    assert_refused(response, "use_dpop_nonce")
    fresh = response.headers["dpop-nonce"]
    proof = client.device_key.proof("GET", me_url(server), nonce=fresh, access_token=token,
                                    iat=int(clock.now().timestamp()))
    retry = await get_me(server, {"Authorization": f"DPoP {token}", "DPoP": proof})
    assert retry.status_code == 200, retry.text
    await client.aclose()


async def test_a_stolen_cookie_without_the_device_key_is_useless(server: RunningServer
                                                                 ) -> None:
    client = await signed_in(server)
    token = client.token
    assert token is not None
    nonce = await fresh_nonce(server)
    cookie = {"Cookie": f"tsunagu_session={token}"}
    # The cookie alone, as a cross-site form or a copied cookie would send it.
    assert_refused(await get_me(server, cookie), "invalid_dpop_proof")
    async with httpx.AsyncClient() as http:
        post = await http.post(f"{server.http_url}/api/channels/group", headers=cookie,
                               json={"name": "乗っ取り", "member_ids": []})
    assert_refused(post, "invalid_dpop_proof")
    # With a proof from the thief's own key, even with the right ath.
    thief = DeviceKey.generate()
    proof = thief.proof("GET", me_url(server), nonce=nonce, access_token=token)
    assert_refused(await get_me(server, cookie | {"DPoP": proof}), "invalid_dpop_proof")
    # The genuine device with the cookie (the browser's way) is accepted.
    proof = client.device_key.proof("GET", me_url(server), nonce=nonce, access_token=token)
    assert (await get_me(server, cookie | {"DPoP": proof})).status_code == 200
    refused = [e for e in await audit_actions(server)
               if e["action"] == "session.proof_refused"]
    assert len(refused) >= 3
    assert {e["detail"]["via"] for e in refused} == {"cookie"}
    await client.aclose()


# --- the websocket -----------------------------------------------------------------------


async def ws_auth(server: RunningServer, frame_for: Any, *,
                  origin: str | None = None) -> tuple[dict[str, Any], int | None]:
    """Open /ws, read hello, send ``frame_for(nonce)``; returns the reply and close code."""
    async with websockets.connect(server.ws_url, origin=origin,
                                  open_timeout=FRAME_TIMEOUT) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
        assert hello["type"] == "hello" and hello["dpop_nonce"]
        await ws.send(json.dumps(frame_for(hello["dpop_nonce"])))
        reply = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
        if reply["type"] == "ready":
            return reply, None
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT)
        return reply, ws.close_code


async def test_websocket_auth_needs_a_proof_from_the_bound_key(server: RunningServer
                                                               ) -> None:
    client = await signed_in(server)
    token = client.token
    key = client.device_key
    ws_url = server.ws_url
    other = DeviceKey.generate()
    cases = {
        "no proof": lambda n: {"type": "auth", "token": token},
        "other key": lambda n: {"type": "auth", "token": token,
                                "proof": other.proof("GET", ws_url, nonce=n,
                                                     access_token=token)},
        "http url": lambda n: {"type": "auth", "token": token,
                               "proof": key.proof("GET", server.http_url + "/ws", nonce=n,
                                                  access_token=token)},
        "wrong method": lambda n: {"type": "auth", "token": token,
                                   "proof": key.proof("POST", ws_url, nonce=n,
                                                      access_token=token)},
        "no nonce": lambda n: {"type": "auth", "token": token,
                               "proof": key.proof("GET", ws_url, access_token=token)},
    }
    for name, frame_for in cases.items():
        reply, code = await ws_auth(server, frame_for)
        assert reply["type"] == "error", name
        assert reply["code"] in {"invalid_dpop_proof", "use_dpop_nonce"}, (name, reply)
        assert code == 1008, name
    # A proof captured on the wire and replayed on a second connection.
    captured: dict[str, str] = {}

    def remember(nonce: str) -> dict[str, Any]:
        captured["proof"] = key.proof("GET", ws_url, nonce=nonce, access_token=token)
        return {"type": "auth", "token": token, "proof": captured["proof"]}

    ready, _ = await ws_auth(server, remember)
    assert ready["type"] == "ready"
    reply, code = await ws_auth(server, lambda n: {"type": "auth", "token": token,
                                                   "proof": captured["proof"]})
    # Refused twice over (its jti is spent, and it carries the first connection's nonce);
    # the nonce is checked first.
    assert (reply["code"], code) == ("use_dpop_nonce", 1008)
    await client.aclose()


async def test_websocket_auth_needs_this_connections_hello_nonce(server: RunningServer
                                                                  ) -> None:
    """docs/protocol.md §1.3: the proof is over the nonce of *this* connection's hello.
    A fresh nonce from GET /auth/nonce, or another open connection's hello nonce, is a
    nonce this server issued and still valid, and is refused all the same."""
    client = await signed_in(server)
    token, key, ws_url = client.token, client.device_key, server.ws_url

    def signed_over(nonce: str) -> dict[str, Any]:
        return {"type": "auth", "token": token,
                "proof": key.proof("GET", ws_url, nonce=nonce, access_token=token)}

    from_http = await fresh_nonce(server)
    reply, code = await ws_auth(server, lambda _hello: signed_over(from_http))
    assert (reply["type"], reply["code"], code) == ("error", "use_dpop_nonce", 1008)

    async with websockets.connect(ws_url, open_timeout=FRAME_TIMEOUT) as first:
        other = json.loads(await asyncio.wait_for(first.recv(), FRAME_TIMEOUT))
        reply, code = await ws_auth(server, lambda _hello: signed_over(other["dpop_nonce"]))
        assert (reply["type"], reply["code"], code) == ("error", "use_dpop_nonce", 1008)

    ready, code = await ws_auth(server, signed_over)
    assert ready["type"] == "ready" and code is None
    await client.aclose()


async def test_a_websocket_from_another_origin_is_refused(server: RunningServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(server.ws_url, origin="https://evil.example",
                                      open_timeout=FRAME_TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


# --- lifetimes ---------------------------------------------------------------------------


async def test_idle_and_absolute_timeouts_and_refresh(make_server: ServerFactory) -> None:
    clock = ManualClock()
    server = make_server(app_kwargs={"clock": clock}, session_idle_seconds=600,
                         session_ttl_seconds=3600)
    client = await signed_in(server, clock=clock)

    async def me() -> httpx.Response:
        # Proofs carry the server's (injected) time.
        token = client.token
        assert token is not None
        nonce = await fresh_nonce(server)
        proof = client.device_key.proof("GET", me_url(server), nonce=nonce,
                                        access_token=token, iat=int(clock.now().timestamp()))
        return await get_me(server, {"Authorization": f"DPoP {token}", "DPoP": proof})

    # Used every 9 minutes, the session lives on (refresh without a passkey prompt)...
    for _ in range(5):
        clock.advance(540)
        response = await me()
        assert response.status_code == 200, response.text
    # ...until its absolute end (an hour here).
    clock.advance(900)
    expired = await me()
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]

    # Left alone past the idle timeout, a new session ends.
    await client.sign_in()
    clock.advance(601)
    idle = await me()
    assert idle.status_code == 401 and "inactivity" in idle.json()["error"]["message"]
    await client.aclose()


async def test_refresh_slides_the_idle_deadline_and_sign_out_ends_the_session(
        server: RunningServer) -> None:
    client = await signed_in(server)
    async with client:
        refreshed = await client.refresh()
        assert refreshed["idle_timeout_seconds"] == 3600
        assert refreshed["idle_expires_at"] <= refreshed["expires_at"]
        ws, _ = await client.connect()
        token = client.token
        await client.sign_out()
        await read_until_closed(ws, 2)
        assert ws.close_code == 4002
        client.token = token
        after = await client.request("GET", "/api/me")
        assert after.status_code == 401
    assert "session.signed_out" in {e["action"] for e in await audit_actions(server)}


# --- revocation --------------------------------------------------------------------------


async def test_revoking_a_device_closes_its_connections_within_a_second(
        server: RunningServer) -> None:
    """Through the real CLI, beside the server: its event reaches the node on Redis, or
    through the bus outbox on the in-process bus; the database sweep would too."""
    client = await signed_in(server)
    other = await signed_in(server, TAKAHASHI)
    ws, _ = await client.connect()
    bystander, _ = await other.connect()
    me = (await client.request("GET", "/api/me")).json()
    device_id = me["session"]["device_id"]
    closed = asyncio.create_task(read_until_closed(ws, 10))
    result = await run_tsunagu(server, "device", "revoke", str(device_id), "--reason",
                               "紛失届")
    revoked_at = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert "1 session(s) ended" in result.stdout
    await closed
    assert time.monotonic() - revoked_at <= 1.2
    assert ws.close_code == 4002
    # The revoked device can neither use its session nor sign in again.
    assert (await client.request("GET", "/api/me")).status_code == 401
    with pytest.raises(ClientError) as refused:
        await client.sign_in()
    assert (refused.value.status, refused.value.code) == (403, "device_revoked")
    # The same phone (same passkey authenticator), enrolled again with a new code.
    again = device_client(server, authenticator=client.authenticator)
    async with again:
        enrolled = await again.enroll(enrollment_code(server, SUZUKI))
        await again.sign_in(credential_id=enrolled["credential_id"])
    # Other people's connections are untouched.
    await bystander.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(bystander.recv(), FRAME_TIMEOUT))["type"]
    await bystander.close()
    events = {e["action"]: e for e in await audit_actions(server)}
    assert events["device.revoked"]["detail"]["reason"] == "紛失届"
    await client.aclose()
    await other.aclose()


async def test_disabling_a_user_ends_every_session_on_every_node(
        make_server: ServerFactory) -> None:
    """Two nodes on one database (and, on PostgreSQL, one Redis bus)."""
    first = make_server()
    second = make_server()
    client = await signed_in(first)
    ws_one, _ = await client.connect()
    # The same session, used through the other node.
    client.origin = f"http://localhost:{second.port}"
    client.ws_url = second.ws_url
    ws_two, _ = await client.connect()
    closed = [asyncio.create_task(read_until_closed(w, 10)) for w in (ws_one, ws_two)]
    result = await run_tsunagu(first, "user", "disable", SUZUKI)
    assert result.returncode == 0, result.stderr
    done = time.monotonic()
    await asyncio.gather(*closed)
    assert time.monotonic() - done <= 1.2
    assert ws_one.close_code == ws_two.close_code == 4002
    client.origin = f"http://localhost:{first.port}"
    with pytest.raises(ClientError) as refused:
        await client.sign_in()
    assert (refused.value.status, refused.value.code) == (403, "account_disabled")
    enabled = await run_tsunagu(first, "user", "enable", SUZUKI)
    assert enabled.returncode == 0
    await client.sign_in()
    await client.aclose()


async def test_sign_in_attempts_are_rate_limited_per_address(make_server: ServerFactory
                                                             ) -> None:
    server = make_server(sign_in_burst=3, sign_in_attempts_per_minute=1)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        statuses = [(await http.post("/auth/enroll/options", json={"code": "guess"})).status_code
                    for _ in range(4)]
        limited = await http.post("/auth/signin/options", json={})
    assert statuses == [404, 404, 404, 429]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
