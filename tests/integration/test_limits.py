"""Resource limits over real sockets: unauthenticated websockets per address and per node,
the auth deadline, and slow HTTP clients (headers or bodies that stall or trickle)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import ChatClient, RunningServer, dev_token
from tests.support.people import SUZUKI
from tests.support.servers import FRAME_TIMEOUT
from tests.support.sessions import read_until_closed

TRY_AGAIN_LATER = 1013
# How much later than its deadline the server may close a slow client.
MARGIN = 1.0


async def waiting(server: RunningServer, address: str | None = None) -> ChatClient:
    """A websocket that got its ``hello`` and has not authenticated."""
    headers = {"X-Forwarded-For": address} if address else None
    client = await ChatClient.connect(server, additional_headers=headers)
    await client.expect("hello")
    return client


async def refused(server: RunningServer, address: str | None = None) -> None:
    """The node accepts the websocket only to say it is full: an error frame, close 1013."""
    headers = {"X-Forwarded-For": address} if address else None
    client = await ChatClient.connect(server, additional_headers=headers)
    error = await client.expect("error")
    assert error["code"] == "too_many_connections"
    assert error["message_ja"]
    await asyncio.wait_for(client.ws.wait_closed(), FRAME_TIMEOUT)
    assert client.ws.close_code == TRY_AGAIN_LATER


async def admitted_soon(server: RunningServer, address: str | None = None) -> ChatClient:
    """A place freed by a socket that just closed is free once the server saw it close."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        headers = {"X-Forwarded-For": address} if address else None
        client = await ChatClient.connect(server, additional_headers=headers)
        frame = json.loads(await asyncio.wait_for(client.ws.recv(), FRAME_TIMEOUT))
        if frame["type"] == "hello":
            return client
        assert time.monotonic() < deadline, "the place was never freed"
        await client.ws.wait_closed()
        await asyncio.sleep(0.05)


async def sign_in(client: ChatClient, server: RunningServer) -> None:
    await client.send({"type": "auth", "token": await dev_token(server, SUZUKI)})
    client.ready = await client.expect("ready")


# --- unauthenticated websockets ----------------------------------------------------------

async def test_unauthenticated_websockets_are_capped_per_address(
        make_server: ServerFactory) -> None:
    server = make_server(ws_unauth_per_address=3, ws_unauth_total=100)
    first, second, third = [await waiting(server) for _ in range(3)]
    await refused(server)
    # Authenticated connections do not count: signing one in frees its place.
    await sign_in(first, server)
    fourth = await waiting(server)
    await refused(server)
    # Nor does a socket that closed.
    await second.close()
    await admitted_soon(server)
    await refused(server)
    # The signed-in connection works as ever.
    await first.send({"type": "ping"})
    await first.expect("pong")
    assert third.ws.close_code is None and fourth.ws.close_code is None


async def test_the_node_caps_unauthenticated_websockets_in_all_by_forwarded_address(
        make_server: ServerFactory) -> None:
    # Behind a trusted proxy (CHAT_FORWARDED_ALLOW_IPS) the address counted is the
    # client's from X-Forwarded-For, not the proxy's.
    server = make_server(ws_unauth_per_address=2, ws_unauth_total=3,
                         forwarded_allow_ips="127.0.0.1")
    one = await waiting(server, "192.0.2.1")
    await waiting(server, "192.0.2.1")
    await refused(server, "192.0.2.1")        # that address's cap
    await waiting(server, "192.0.2.2")        # another address: the node's third
    await refused(server, "192.0.2.3")        # the node's cap
    await sign_in(one, server)
    await waiting(server, "192.0.2.3")


async def test_a_websocket_that_never_authenticates_is_closed_at_the_auth_deadline(
        make_server: ServerFactory) -> None:
    server = make_server(ws_auth_timeout_seconds=0.5)
    client = await waiting(server)
    assert await read_until_closed(client.ws, FRAME_TIMEOUT) < 0.5 + MARGIN
    assert client.ws.close_code == 1008


# --- slow HTTP clients -------------------------------------------------------------------

async def closed_after(reader: asyncio.StreamReader, timeout: float) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it said before."""
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), timeout)
    return time.monotonic() - started, answer


async def stalling(server: RunningServer, sent: bytes, *, trickle: bytes = b"",
                   every: float = 0.2) -> tuple[float, bytes]:
    """Send ``sent``, then ``trickle`` a byte at a time; when the server closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

    async def dribble() -> None:
        for byte in trickle:
            await asyncio.sleep(every)
            writer.write(bytes([byte]))
            await writer.drain()

    writer.write(sent)
    dripping = asyncio.create_task(dribble())
    try:
        return await closed_after(reader, 10)
    finally:
        dripping.cancel()
        writer.close()


async def health(server: RunningServer) -> int:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        return (await http.get("/healthz")).status_code


async def test_requests_whose_headers_stall_or_trickle_are_cut_off(
        make_server: ServerFactory) -> None:
    server = make_server(http_header_timeout_seconds=1.0, http_body_timeout_seconds=2.0)
    host = f"Host: 127.0.0.1:{server.port}\r\n".encode()
    slow = [
        stalling(server, b""),                                    # says nothing at all
        stalling(server, b"GET /hea"),                            # half a request line
        stalling(server, b"GET /healthz HTTP/1.1\r\n" + host,      # headers, a byte at a time
                 trickle=b"X-Padding: " + b"a" * 100),
        stalling(server, b"GET /ws HTTP/1.1\r\n" + host +         # a websocket handshake
                 b"Upgrade: websocket\r\nConnection: Upgrade\r\n"),
    ]
    # A kept-alive connection's next request is timed from its first byte.
    kept_alive = stalling(server, b"GET /healthz HTTP/1.1\r\n" + host + b"\r\nGET /he")
    online = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    tasks = [asyncio.create_task(one) for one in [*slow, kept_alive]]
    await asyncio.sleep(0.3)
    assert await health(server) == 200          # meanwhile others are served
    *cut, (kept_for, kept_answer) = await asyncio.gather(*tasks)
    for elapsed, answer in cut:
        assert elapsed < 1.0 + MARGIN
        assert answer.startswith(b"HTTP/1.1 408 ")
    assert kept_for < 1.0 + MARGIN
    assert kept_answer.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in kept_answer
    assert await health(server) == 200
    # An open websocket is no slow request: it outlives the header deadline.
    await online.send({"type": "ping"})
    await online.expect("pong")


async def test_request_bodies_that_stall_or_trickle_are_cut_off(
        make_server: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    server = make_server(http_header_timeout_seconds=1.0, http_body_timeout_seconds=2.0)
    body = json.dumps({"staff_number": SUZUKI}).encode()
    head = (f"POST /dev/session HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body) + 1000}\r\n"
            "\r\n").encode()
    started = time.monotonic()
    stalled, trickled = await asyncio.gather(
        stalling(server, head + body[:5]),                        # then nothing: 1 s pause
        stalling(server, head, trickle=b" " * 1000, every=0.2))   # never a 1 s pause
    assert stalled[0] < 1.0 + MARGIN and stalled[1] == b""
    # The trickle kept every pause short; the body's own deadline ended it.
    assert 2.0 - 0.2 < trickled[0] < 2.0 + MARGIN and trickled[1] == b""
    assert time.monotonic() - started < 2.0 + 2 * MARGIN
    # A body in two parts with a short pause between is served.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head.replace(f"{len(body) + 1000}".encode(), str(len(body)).encode())
                 + body[:5])
    await asyncio.sleep(0.5)
    writer.write(body[5:])
    status = await asyncio.wait_for(reader.readline(), FRAME_TIMEOUT)
    writer.close()
    assert status.startswith(b"HTTP/1.1 200 ")
    # The app's read of a body cut off is no server error (no traceback in the log).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
