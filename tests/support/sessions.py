"""Sessions on a test server: dev tokens (``CHAT_DEV_SESSIONS``), and device-bound
sessions made the real way (an enrollment code, a device key, a passkey)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import websockets

from chat.context import open_context
from tests.support.clock import ManualClock
from tests.support.people import SUZUKI
from tests.support.servers import FRAME_TIMEOUT, RunningServer, beside, in_own_thread

if TYPE_CHECKING:
    from chat.client import TsunaguClient


async def dev_token(server: RunningServer, staff_number: str) -> str:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        response = await http.post("/dev/session", json={"staff_number": staff_number})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def api(server: RunningServer, token: str, method: str, path: str,
              **kwargs: Any) -> httpx.Response:
    """One HTTP request to ``server`` as the session ``token`` (``json=``, ``params=``…)."""
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        return await http.request(method, path, headers=auth_headers(token), **kwargs)


def enrollment_code(server: RunningServer, staff_number: str, *,
                    ttl_seconds: int | None = None, label: str = "テスト端末") -> str:
    """A one-time enrollment code made by the real action on ``server``'s database (the
    CLI path is tested on its own; this is quicker than a subprocess per test)."""
    from chat.actions.devices import create_enrollment

    async def make() -> str:
        async with open_context(beside(server.settings)) as ctx:
            ticket = await create_enrollment(ctx, staff_number=staff_number, label=label,
                                             created_by="test", ttl_seconds=ttl_seconds)
            return ticket.code

    code: str = in_own_thread(lambda: asyncio.run(make()))
    return code


def device_client(server: RunningServer, key: Any = None, *,
                  authenticator: Any = None, clock: ManualClock | None = None) -> Any:
    """A ``chat.client.TsunaguClient`` for ``server`` with a fresh software device key
    and passkey authenticator (WebAuthn needs the localhost origin, not 127.0.0.1)."""
    from chat.client import DeviceKey, SoftwareAuthenticator, TsunaguClient

    origin = f"http://localhost:{server.port}"
    return TsunaguClient(server.http_url, key or DeviceKey.generate(),
                         authenticator=authenticator or SoftwareAuthenticator("localhost",
                                                                              origin),
                         origin=origin, ws_url=server.ws_url,
                         clock=(lambda: clock.now().timestamp()) if clock else time.time)


async def signed_in(server: RunningServer, staff_number: str = SUZUKI, *,
                    clock: ManualClock | None = None) -> TsunaguClient:
    """A device enrolled for ``staff_number`` and signed in (a device-bound session)."""
    client: TsunaguClient = device_client(server, clock=clock)
    await client.enroll(enrollment_code(server, staff_number))
    await client.sign_in()
    return client


async def read_until_closed(ws: Any, timeout: float) -> float:
    """Seconds until the server closed ``ws`` (frames on the way are dropped)."""
    started = time.monotonic()
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return time.monotonic() - started
