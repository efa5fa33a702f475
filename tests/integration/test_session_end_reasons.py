"""A connection ended for good says why just before close 4002 (issue 25): a revoked
device gets an ``error`` frame ``device_revoked`` (the page then stops offering passkey
sign-in and asks for a new enrollment), a disabled account ``account_disabled``; a
session that merely ended (sign-out) gets no such frame."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.support import RunningServer, run_tsunagu, signed_in
from tests.support.people import SUZUKI


async def frames_until_closed(ws: Any, timeout: float = 10) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    return frames


async def test_a_revoked_device_is_told_device_revoked_before_close_4002(
        server: RunningServer) -> None:
    client = await signed_in(server)
    ws, _ = await client.connect()
    me = (await client.request("GET", "/api/me")).json()
    closed = asyncio.create_task(frames_until_closed(ws))
    result = await run_tsunagu(server, "device", "revoke", str(me["session"]["device_id"]),
                               "--reason", "紛失届")
    assert result.returncode == 0, result.stderr
    frames = await closed
    assert ws.close_code == 4002
    errors = [f for f in frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["device_revoked"]
    await client.aclose()


async def test_a_disabled_account_is_told_account_disabled(server: RunningServer) -> None:
    client = await signed_in(server, SUZUKI)
    ws, _ = await client.connect()
    closed = asyncio.create_task(frames_until_closed(ws))
    result = await run_tsunagu(server, "user", "disable", SUZUKI)
    assert result.returncode == 0, result.stderr
    frames = await closed
    assert ws.close_code == 4002
    assert [f["code"] for f in frames if f["type"] == "error"] == ["account_disabled"]
    await client.aclose()


async def test_signing_out_elsewhere_ends_the_connection_without_an_error(
        server: RunningServer) -> None:
    client = await signed_in(server)
    ws, _ = await client.connect()
    closed = asyncio.create_task(frames_until_closed(ws))
    await client.sign_out()
    frames = await closed
    assert ws.close_code == 4002
    assert not [f for f in frames if f["type"] == "error"]
    await client.aclose()
