"""The off-hours policy on a real server with an injected clock: who may sign in, use the
API and stay connected outside working hours, holidays, disaster mode, and the bilingual
refusals. Also the session's idle end on an open websocket."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import websockets

from chat.client import ClientError, TsunaguClient
from tests.conftest import ServerFactory
from tests.support import (
    FRAME_TIMEOUT,
    ManualClock,
    RunningServer,
    device_client,
    enrollment_code,
    run_tsunagu,
)
from tests.support.people import KATO, SATO, SUZUKI, TANAKA

TOKYO = ZoneInfo("Asia/Tokyo")
# Wednesday 25 November 2026, an ordinary working day.
WEDNESDAY = datetime(2026, 11, 25, tzinfo=TOKYO)


def at(hour: int, minute: int = 0, *, day: datetime = WEDNESDAY) -> datetime:
    return day.replace(hour=hour, minute=minute)


@pytest.fixture
def clock() -> ManualClock:
    clock = ManualClock()
    clock.set(at(10))
    return clock


@pytest.fixture
def policy_server(make_server: ServerFactory, clock: ManualClock) -> RunningServer:
    return make_server(app_kwargs={"clock": clock}, off_hours_policy=True)


async def enrolled(server: RunningServer, clock: ManualClock,
                   staff_number: str) -> TsunaguClient:
    """Enrolled during office hours (enrollment needs no session)."""
    client = device_client(server, clock=clock)
    await client.enroll(enrollment_code(server, staff_number))
    return client


def later(clock: ManualClock, moment: datetime) -> None:
    """Jump to ``moment``; the node's 5-second policy cache expires on the way."""
    clock.set(moment)


async def test_staff_are_refused_after_hours_with_a_reason_in_both_languages(
        policy_server: RunningServer, clock: ManualClock) -> None:
    staff = await enrolled(policy_server, clock, SUZUKI)     # 鈴木, staff
    manager = await enrolled(policy_server, clock, SATO)   # 佐藤, manager
    later(clock, at(20))
    with pytest.raises(ClientError) as refused:
        await staff.sign_in()
    assert (refused.value.status, refused.value.code) == (403, "off_hours")
    assert "outside working hours" in refused.value.message
    signed_in = await manager.sign_in()
    assert signed_in["user"]["role"] == "manager"
    ws, _ = await manager.connect()
    await ws.close()
    await staff.aclose()
    await manager.aclose()


async def test_the_refusal_carries_japanese_and_english_messages(
        policy_server: RunningServer, clock: ManualClock) -> None:
    clock.set(at(16, 50))
    staff = await enrolled(policy_server, clock, SUZUKI)
    await staff.sign_in()
    later(clock, at(17, 20))  # the session is still fresh; the office has closed
    response = await staff.request("GET", "/api/channels")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "off_hours"
    assert "勤務時間外" in error["message_ja"] and "8:30" in error["message_ja"]
    assert "working hours" in error["message"]
    assert "管理職" in error["message_ja"]  # who may connect anyway
    # Signing out still works after hours: the policy never keeps a session alive.
    await staff.sign_out()
    await staff.aclose()


async def test_weekends_and_configured_holidays_are_closed(
        policy_server: RunningServer, clock: ManualClock, tmp_path: Path) -> None:
    staff = await enrolled(policy_server, clock, SUZUKI)
    later(clock, at(11, day=datetime(2026, 11, 29, tzinfo=TOKYO)))  # a Sunday
    with pytest.raises(ClientError) as sunday:
        await staff.sign_in()
    assert sunday.value.code == "holiday"
    # A city holiday on a Monday, configured through the CLI.
    hours = tmp_path / "hours.json"
    hours.write_text(json.dumps({"holidays": ["2026-11-30"]}), encoding="utf-8")
    result = await run_tsunagu(policy_server, "policy", "hours", str(hours))
    assert result.returncode == 0, result.stderr
    later(clock, at(11, day=datetime(2026, 11, 30, tzinfo=TOKYO)))
    with pytest.raises(ClientError) as holiday:
        await staff.sign_in()
    assert holiday.value.code == "holiday"
    later(clock, at(11, day=datetime(2026, 12, 1, tzinfo=TOKYO)))  # Tuesday: open
    await staff.sign_in()
    await staff.aclose()


async def test_disaster_mode_lets_everyone_in_until_it_is_lifted(
        policy_server: RunningServer, clock: ManualClock) -> None:
    staff = await enrolled(policy_server, clock, TANAKA)
    declared = await run_tsunagu(policy_server, "policy", "disaster", "on")
    assert declared.returncode == 0 and "ON" in declared.stdout
    later(clock, at(23))
    await staff.sign_in()
    ws, _ = await staff.connect()
    lifted = await run_tsunagu(policy_server, "policy", "disaster", "off")
    assert lifted.returncode == 0
    # The connection is judged again within a minute of the change (here: the next
    # wake-up after the clock passes that minute).
    clock.advance(61)
    await ws.send(json.dumps({"type": "ping"}))
    error = await _until_closed(ws)
    assert error is not None and error["code"] == "off_hours"
    assert ws.close_code == 4003
    shown = await run_tsunagu(policy_server, "policy", "show")
    assert "disaster mode: off" in shown.stdout
    await staff.aclose()


async def test_connections_close_with_4003_when_working_hours_end(
        make_server: ServerFactory, clock: ManualClock) -> None:
    # Heartbeats are not what this test is about: the six-minute jump must not look like
    # a silent connection (4000).
    policy_server = make_server(app_kwargs={"clock": clock}, off_hours_policy=True,
                                idle_timeout_seconds=3600)
    clock.set(at(17, 10))
    staff = await enrolled(policy_server, clock, SUZUKI)
    manager = await enrolled(policy_server, clock, SATO)
    await staff.sign_in()
    await manager.sign_in()
    staff_ws, _ = await staff.connect()
    manager_ws, _ = await manager.connect()
    clock.set(at(17, 16))
    # Any frame wakes the connection's loop, which finds the deadline passed.
    await staff_ws.send(json.dumps({"type": "ping"}))
    error = await _until_closed(staff_ws)
    assert error is not None and error["code"] == "off_hours" and error["message_ja"]
    assert staff_ws.close_code == 4003
    await _pong(manager_ws, "manager-still-here")  # the manager stays connected
    await manager_ws.close()
    await staff.aclose()
    await manager.aclose()


async def test_an_admin_may_allow_more_roles_off_hours(
        policy_server: RunningServer, clock: ManualClock) -> None:
    operator = await enrolled(policy_server, clock, KATO)  # 加藤, operator
    later(clock, at(21))
    with pytest.raises(ClientError):
        await operator.sign_in()
    result = await run_tsunagu(policy_server, "policy", "roles", "manager,operator")
    assert result.returncode == 0 and "operator" in result.stdout
    clock.advance(6)
    await operator.sign_in()
    bad = await run_tsunagu(policy_server, "policy", "roles", "manager,mayor")
    assert bad.returncode == 1 and "mayor" in bad.stderr
    await operator.aclose()


async def test_an_open_connection_ends_with_its_idle_session(
        make_server: ServerFactory, clock: ManualClock) -> None:
    server = make_server(app_kwargs={"clock": clock}, session_idle_seconds=600)
    client = await enrolled(server, clock, SUZUKI)
    await client.sign_in()
    ws, ready = await client.connect()
    channel_id = next(c["id"] for c in ready["channels"] if c["kind"] == "department")
    # What the person does keeps the session alive...
    clock.advance(500)
    await ws.send(json.dumps({"type": "typing", "channel_id": channel_id}))
    await _pong(ws, "typed")  # the server has handled the typing frame
    clock.advance(500)
    await _pong(ws, "still-here")
    # ...the page's automatic pings do not.
    clock.advance(200)
    await ws.send(json.dumps({"type": "ping"}))
    await _until_closed(ws)
    assert ws.close_code == 4002
    assert "inactivity" in (ws.close_reason or "")
    await client.aclose()


async def _pong(ws: Any, ref: str) -> None:
    """Ping and wait for its pong (frames are handled in order, so everything sent before
    has been handled too)."""
    await ws.send(json.dumps({"type": "ping", "ref": ref}))
    while json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT)).get("ref") != ref:
        pass  # presence and typing frames on the way


async def _until_closed(ws: Any) -> dict[str, Any] | None:
    """Read until the server closes; the last error frame on the way, if any."""
    error = None
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
            if frame["type"] == "error":
                error = frame
    return error
