"""Ending a session ends its connections at once, on every node."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import ChatClient, RunningServer, auth_headers, dev_token
from tests.support.people import SUZUKI, TANAKA

# Revocation must close live connections within one second.
CLOSE_WITHIN = 1.0


async def sign_out(server: RunningServer, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        return await http.post("/api/session/sign-out", headers=auth_headers(token))


async def test_sign_out_closes_that_sessions_connections_only(server: RunningServer) -> None:
    phone_token = await dev_token(server, SUZUKI)
    pc_token = await dev_token(server, SUZUKI)
    phone = await ChatClient.connect(server, phone_token)
    pc = await ChatClient.connect(server, pc_token)
    r = await sign_out(server, phone_token)
    assert r.status_code == 200
    await asyncio.wait_for(phone.ws.wait_closed(), CLOSE_WITHIN)
    assert phone.ws.close_code == 4002
    await pc.send({"type": "ping"})
    await pc.expect("pong")   # the other device's session lives on
    # The revoked token is refused everywhere.
    assert (await sign_out(server, phone_token)).status_code == 401
    again = await ChatClient.connect(server)
    await again.send({"type": "auth", "token": phone_token})
    assert (await again.expect("error"))["code"] == "unauthenticated"


async def test_revocation_closes_connections_on_another_node(
        backend: str, make_server: ServerFactory) -> None:
    if backend != "postgres":
        pytest.skip("several nodes need a shared bus (Redis)")
    node_a, node_b = make_server(), make_server()
    token = await dev_token(node_a, TANAKA)
    on_b = await ChatClient.connect(node_b, token)
    assert (await sign_out(node_a, token)).status_code == 200
    await asyncio.wait_for(on_b.ws.wait_closed(), CLOSE_WITHIN)
    assert on_b.ws.close_code == 4002
