"""Web Push against a real push service running here: the server signs with VAPID
(RFC 8292), encrypts with aes128gcm (RFC 8291) to the subscription's key, respects
mute and mentions, pushes phone notices, and forgets subscriptions that are gone."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import ServerFactory
from tests.support import ChatClient, RunningServer, api, dev_token, sql
from tests.support.people import ITO, KATO, SUZUKI, TANAKA, WATANABE
from tests.support.push import (
    Browser,
    PushService,
    Received,
    b64url,
    loopback_name,
    push_counts,
    unb64url,
    web_push_of,
)

GROUP = "忘年会幹事"  # SUZUKI, TANAKA, WATANABE






def check_vapid(received: Received, *, public_key: str, audience: str) -> None:
    """RFC 8292 §2–3: ``vapid t=JWT, k=key``; the JWT is ES256 by that key, for the push
    service's origin, expiring within 24 hours, with a contact."""
    scheme, _, params = received.headers["authorization"].partition(" ")
    assert scheme.lower() == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
    claims = jwt.decode(fields["t"], key=key, algorithms=["ES256"], audience=audience)
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https://"))
    assert received.headers["content-encoding"] == "aes128gcm"
    assert int(received.headers["ttl"]) > 0
    assert received.headers["urgency"] in {"normal", "high"}


async def connect(server: RunningServer, staff: str) -> ChatClient:
    return await ChatClient.connect(server, await dev_token(server, staff))


async def send(client: ChatClient, channel_id: int, body: str, **extra: Any
               ) -> dict[str, Any]:
    client_id = uuid.uuid4().hex
    await client.send({"type": "send", "channel_id": channel_id, "client_id": client_id,
                       "body": body, **extra})
    ack = await client.expect("ack", lambda f: f["client_id"] == client_id)
    return dict(ack["message"])


async def test_a_new_message_arrives_as_a_real_decryptable_push(
        make_server: ServerFactory, push_service: PushService) -> None:
    server = make_server(push_allow_http_loopback=True)
    tokens = {s: await dev_token(server, s) for s in (SUZUKI, TANAKA, ITO, WATANABE, KATO)}
    key = (await api(server, tokens[TANAKA], "GET", "/api/push/key")).json()["public_key"]
    assert len(unb64url(key)) == 65 and unb64url(key)[0] == 4

    tanaka, watanabe, ito = (Browser.make(push_service, n) for n in ("tanaka", "watanabe",
                                                                      "ito"))
    push_service.gone.add("watanabe")
    for staff, browser in ((TANAKA, tanaka), (WATANABE, watanabe), (ITO, ito)):
        response = await api(server, tokens[staff], "POST", "/api/push/subscriptions",
                             json=browser.subscription())
        assert response.status_code == 201, response.text

    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    group = next(c["id"] for c in suzuki.ready["channels"] if c["name"] == GROUP)
    message = await send(suzuki, group, "明日の幹事会は" + "とても" * 60 + "大事です")

    pushes = {}
    for _ in range(2):   # tanaka's and watanabe's; never ito's (not a member), nor suzuki's
        received = await push_service.next()
        pushes[received.name] = received
    assert set(pushes) == {"tanaka", "watanabe"}
    check_vapid(pushes["tanaka"], public_key=key, audience=push_service.origin)
    payload = tanaka.decrypt(pushes["tanaka"].body)
    assert payload["title"] == f"{GROUP}：鈴木 花子"
    assert payload["body"].startswith("明日の幹事会は") and len(payload["body"]) <= 120
    assert (payload["channel_id"], payload["message_id"]) == (group, message["id"])
    assert payload["url"] == f"/?channel={group}&message={message['id']}"
    # Encrypted to each subscription's own key: tanaka's key cannot read watanabe's.
    with pytest.raises(Exception):  # noqa: B017 - http_ece raises cryptography errors
        tanaka.decrypt(pushes["watanabe"].body)
    assert watanabe.decrypt(pushes["watanabe"].body)["message_id"] == message["id"]

    # The push service said 410 Gone for watanabe: the subscription is forgotten.
    for _ in range(50):
        left = {r[0] for r in sql(server, "SELECT endpoint FROM push_subscriptions")}
        if watanabe.endpoint not in left:
            break
        await asyncio.sleep(0.1)
    assert left == {tanaka.endpoint, ito.endpoint}

    # Muted: nothing for an ordinary message, but a mention comes through, urgently.
    muted = await api(server, tokens[TANAKA], "PUT", f"/api/channels/{group}/mute",
                      json={"muted": True})
    assert muted.status_code == 200
    await send(suzuki, group, "静かな連絡")
    assert suzuki.ready is not None
    tanaka_id = next(c["partner_id"] for c in suzuki.ready["channels"]
                     if c["kind"] == "direct" and c["name"] == "田中 美咲")
    mention = await send(suzuki, group, "田中さん確認お願いします", mentions=[tanaka_id])
    received = await push_service.next()
    assert received.name == "tanaka"
    payload = tanaka.decrypt(received.body)
    assert payload["message_id"] == mention["id"] and payload["kind"] == "mention"
    assert "あなた宛て" in payload["title"] and received.headers["urgency"] == "high"

    # A phone memo reaches the person's phone as 「電話」 (their 電話 channel is new, so
    # not muted).
    memo = await api(server, tokens[KATO], "POST", "/api/memos", json={
        "for_user_id": tanaka_id, "caller_name": "山田", "company": "山田商事",
        "number": "03-1234-5678", "action": "call_back", "text": "見積の件"})
    assert memo.status_code == 201, memo.text
    received = await push_service.next()
    payload = tanaka.decrypt(received.body)
    assert payload["title"] == "電話：伝言メモ" and payload["kind"] == "memo"
    assert payload["message_id"] == memo.json()["message"]["id"]
    assert "山田商事" in payload["body"]

    # Unsubscribed: nothing more.
    gone = await api(server, tokens[TANAKA], "DELETE", "/api/push/subscriptions",
                     json={"endpoint": tanaka.endpoint})
    assert gone.json() == {"unsubscribed": True}
    await send(suzuki, group, "誰にも届かない", mentions=[tanaka_id])
    await asyncio.sleep(0.5)
    assert push_service.received.empty()


@pytest.mark.parametrize(("subscription", "problem"), [
    ({"endpoint": "http://push.example.com/x"}, "https"),
    ({"endpoint": "https://user:pw@push.example.com/x"}, "credentials"),
    ({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}},
     "p256dh"),
    ({"endpoint": 7}, "endpoint"),
])
async def test_a_subscription_must_name_an_https_push_service_and_real_keys(
        server: RunningServer, subscription: dict[str, Any], problem: str) -> None:
    token = await dev_token(server, TANAKA)
    body = {"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)},
            **subscription}
    response = await api(server, token, "POST", "/api/push/subscriptions", json=body)
    assert response.status_code == 400
    assert problem in response.json()["error"]["message"]
    # Loopback http is for tests only, and this server does not allow it.
    body["endpoint"] = "http://127.0.0.1:9/push/x"
    body["keys"] = {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)}
    response = await api(server, token, "POST", "/api/push/subscriptions", json=body)
    assert response.status_code == 400


KEYS = {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)}


@pytest.mark.parametrize("endpoint", [
    "https://127.0.0.1:{port}/x", "https://localhost:{port}/x", "https://[::1]:{port}/x",
    "https://0x7f000001:{port}/x", "https://127.1:{port}/x", "https://2130706433:{port}/x",
    "https://0177.0.0.1:{port}/x", "https://[::ffff:127.0.0.1]:{port}/x",
    "https://a@127.0.0.1:{port}/x", "https://LOCALHOST.:{port}/x",
    "https://169.254.169.254/latest/meta-data", "https://10.1.2.3/x",
    "https://%6c%6fcalhost:{port}/x", "https://{loopback_name}:{port}/x",
])
async def test_a_subscription_to_an_address_inside_the_network_is_refused(
        server: RunningServer, endpoint: str) -> None:
    """SSRF: whatever the spelling, and for a name by what it resolves to (here a name
    /etc/hosts maps to loopback), the endpoint is refused with a stable code."""
    name = loopback_name()
    if "{loopback_name}" in endpoint and name is None:
        pytest.skip("no name other than localhost maps to loopback in /etc/hosts")
    token = await dev_token(server, TANAKA)
    url = endpoint.format(port=server.port, loopback_name=name)
    response = await api(server, token, "POST", "/api/push/subscriptions",
                         json={"endpoint": url, "keys": KEYS})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "push_endpoint_refused"
    assert sql(server, "SELECT endpoint FROM push_subscriptions") == []


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_one_bad_subscription_cannot_stop_other_peoples_pushes(
        make_server: ServerFactory, push_service: PushService) -> None:
    """A subscription the push library chokes on (``https://[::1]:…``: put straight
    into the database, as subscribe refuses it) fails alone: watanabe's other browser
    still gets the message, tanaka's mention (the job's next batch) still goes out, the
    subscription the push service calls gone is still forgotten, and it is counted."""
    server = make_server(push_allow_http_loopback=True)
    tokens = {s: await dev_token(server, s) for s in (SUZUKI, TANAKA, WATANABE)}
    browsers = {n: Browser.make(push_service, n)
                for n in ("tanaka", "watanabe", "poison", "gone")}
    push_service.gone.add("gone")
    for staff, name in ((TANAKA, "tanaka"), (WATANABE, "watanabe"), (WATANABE, "poison"),
                        (WATANABE, "gone")):
        response = await api(server, tokens[staff], "POST", "/api/push/subscriptions",
                             json=browsers[name].subscription())
        assert response.status_code == 201, response.text
    poisoned = "https://[::1]:8293/push/poison"
    sql(server, "UPDATE push_subscriptions SET endpoint = :bad WHERE endpoint = :good",
        bad=poisoned, good=browsers["poison"].endpoint)

    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    group = next(c["id"] for c in suzuki.ready["channels"] if c["name"] == GROUP)
    tanaka_id = next(c["partner_id"] for c in suzuki.ready["channels"]
                     if c["kind"] == "direct" and c["name"] == "田中 美咲")
    # plain: watanabe's three browsers; then mentions: tanaka's.
    message = await send(suzuki, group, "田中さん、確認お願いします", mentions=[tanaka_id])

    got = {}
    for _ in range(3):
        received = await push_service.next()
        got[received.name] = received
    assert set(got) == {"tanaka", "watanabe", "gone"}
    assert browsers["tanaka"].decrypt(got["tanaka"].body)["kind"] == "mention"
    assert browsers["watanabe"].decrypt(got["watanabe"].body)["message_id"] == message["id"]
    await wait_for(lambda: browsers["gone"].endpoint not in {
        r[0] for r in sql(server, "SELECT endpoint FROM push_subscriptions")})
    counts = push_counts(server)
    assert counts == {"ok": 2, "failed": 2, "refused_ssrf": 1}
    left = {r[0] for r in sql(server, "SELECT endpoint FROM push_subscriptions")}
    assert left == {browsers["tanaka"].endpoint, browsers["watanabe"].endpoint, poisoned}


async def test_a_name_that_resolves_inside_the_network_at_send_time_gets_no_connection(
        make_server: ServerFactory, push_service: PushService) -> None:
    """DNS rebinding: a name that passed at subscribe may resolve to loopback later. The
    row is put straight into the database with a name /etc/hosts maps to loopback; the
    send resolves, refuses, and never connects to the socket listening there."""
    name = loopback_name()
    if name is None:
        pytest.skip("no name other than localhost maps to loopback in /etc/hosts")
    server = make_server(push_allow_http_loopback=True)
    tokens = {s: await dev_token(server, s) for s in (SUZUKI, WATANABE)}
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        victim = Browser.make(push_service, "victim")
        response = await api(server, tokens[WATANABE], "POST", "/api/push/subscriptions",
                             json=victim.subscription())
        assert response.status_code == 201, response.text
        rebound = f"https://{name}:{listener.getsockname()[1]}/push/victim"
        sql(server, "UPDATE push_subscriptions SET endpoint = :bad WHERE endpoint = :good",
            bad=rebound, good=victim.endpoint)

        suzuki = await connect(server, SUZUKI)
        assert suzuki.ready is not None
        group = next(c["id"] for c in suzuki.ready["channels"] if c["name"] == GROUP)
        await send(suzuki, group, "届いてはいけない")

        def connected() -> bool:
            try:
                listener.accept()[0].close()
            except BlockingIOError:
                return False
            return True

        deadline = time.monotonic() + 10
        while getattr(web_push_of(server), "refused_ssrf", 0) < 1:
            assert not connected(), "the node connected to a loopback address"
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert not connected(), "the node connected to a loopback address"
        assert push_counts(server) == {"ok": 0, "failed": 1, "refused_ssrf": 1}
        assert push_service.received.empty()
    finally:
        listener.close()


async def test_a_push_service_redirecting_inside_the_network_is_not_followed(
        make_server: ServerFactory, push_service: PushService) -> None:
    """A redirect is a new request to a new URL: it is checked like the endpoint (here a
    307 to a localhost name on the same push service), so nothing arrives there."""
    server = make_server(push_allow_http_loopback=True)
    tokens = {s: await dev_token(server, s) for s in (SUZUKI, WATANABE)}
    sly = Browser.make(push_service, "sly")
    push_service.redirect["sly"] = f"http://localhost:{push_service.port}/push/inside"
    response = await api(server, tokens[WATANABE], "POST", "/api/push/subscriptions",
                         json=sly.subscription())
    assert response.status_code == 201, response.text
    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    group = next(c["id"] for c in suzuki.ready["channels"] if c["name"] == GROUP)
    await send(suzuki, group, "転送先には届かない")
    await wait_for(lambda: not push_service.received.empty()
                   or getattr(web_push_of(server), "deliveries_failed", 0) == 1)
    await asyncio.sleep(0.3)
    assert push_service.received.empty(), push_service.received.get().name
    assert push_counts(server) == {"ok": 0, "failed": 1, "refused_ssrf": 1}
