"""Helpers for the PBX tests: secrets made by the real action, signed deliveries made by
the ``standardwebhooks`` package, Twilio signatures made by ``twilio``'s
``RequestValidator``, and reads of what the server stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from standardwebhooks import Webhook
from twilio.request_validator import RequestValidator

from chat.actions.pbx_secrets import create_secret
from chat.context import AppContext, open_context
from chat.store.uow import TxMode, unit_of_work
from tests.support import (
    FRAME_TIMEOUT,
    ChatClient,
    RunningServer,
    auth_headers,
    beside,
    dev_token,
    in_own_thread,
)

# The PBX tests import the demo people they ring from here (hence the re-exports).
from tests.support.people import KATO as KATO
from tests.support.people import SUZUKI as SUZUKI
from tests.support.people import TANAKA as TANAKA
from tests.support.people import WATANABE as WATANABE
from tests.support.people import YOSHIDA as YOSHIDA
from tests.support.people import extension_of

T = TypeVar("T")
SUZUKI_EXT, TANAKA_EXT = extension_of(SUZUKI), extension_of(TANAKA)
OUTSIDE = "03-1234-5678"          # +81312345678


def beside_server(server: RunningServer, job: Callable[[AppContext], Awaitable[T]]) -> T:
    """Run ``job`` with an AppContext on ``server``'s database (off the test's loop)."""
    async def main() -> T:
        async with open_context(beside(server.settings)) as ctx:
            return await job(ctx)
    result: T = in_own_thread(lambda: asyncio.run(main()))
    return result


def make_secret(server: RunningServer, name: str = "pbx-main", *, kind: str = "standard",
                value: str | None = None) -> str:
    return beside_server(server, lambda ctx: create_secret(
        ctx, name=name, by="test", kind=kind, value=value))


def call_event(kind: str, call_id: str, *, extension: str = SUZUKI_EXT,
               from_: str = OUTSIDE, to: str = "03-1111-2222", direction: str = "inbound",
               reason: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind, "call_id": call_id,
        "occurred_at": (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "direction": direction, "from": from_, "to": to, "extension": extension}
    if reason is not None:
        event["reason"] = reason
    return event


def signed_headers(secret: str, body: str, *, msg_id: str | None = None,
                   at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    return {"content-type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body)}


async def post_event(server: RunningServer, secret: str, event: dict[str, Any] | str, *,
                     msg_id: str | None = None, at: datetime | None = None,
                     headers: dict[str, str] | None = None) -> httpx.Response:
    body = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
    sent = headers if headers is not None else signed_headers(secret, body, msg_id=msg_id,
                                                              at=at)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        return await http.post("/pbx/events", content=body.encode(), headers=sent)


async def missed_call(server: RunningServer, secret: str, *, extension: str = SUZUKI_EXT,
                      from_: str = OUTSIDE, reason: str = "no_answer",
                      direction: str = "inbound") -> str:
    """A missed call rung on ``extension``: its ringing then its missed event, each
    accepted; returns the call id."""
    call_id = f"c-{uuid.uuid4().hex[:10]}"
    for event in (call_event("call.ringing", call_id, extension=extension, from_=from_,
                             direction=direction),
                  call_event("call.missed", call_id, extension=extension, from_=from_,
                             reason=reason, direction=direction)):
        response = await post_event(server, secret, event)
        assert response.status_code == 200, response.text
    return call_id


async def post_twilio(server: RunningServer, token: str, params: dict[str, str], *,
                      signed_url: str | None = None, path: str = "/pbx/twilio/status",
                      host: str | None = None) -> httpx.Response:
    """Post a status callback signed as Twilio does, over ``signed_url`` (default: the
    URL actually requested)."""
    url = signed_url or f"{server.http_url}{path}"
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {"content-type": "application/x-www-form-urlencoded",
               "x-twilio-signature": signature}
    if host:
        headers["host"] = host
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        return await http.post(path, content=urlencode(params), headers=headers)


async def connect(server: RunningServer, staff_number: str) -> ChatClient:
    return await ChatClient.connect(server, await dev_token(server, staff_number))


async def api_post(server: RunningServer, token: str, path: str,
                   body: dict[str, Any] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        return await http.post(path, json=body or {}, headers=auth_headers(token))


async def history(server: RunningServer, token: str, channel_id: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        r = await http.get(f"/api/channels/{channel_id}/messages", params={"limit": 200},
                           headers=auth_headers(token))
        assert r.status_code == 200, r.text
        messages: list[dict[str, Any]] = r.json()["messages"]
        return messages


def stored_call(server: RunningServer, call_id: str, source: str = "native"
                ) -> dict[str, Any] | None:
    async def read(ctx: AppContext) -> dict[str, Any] | None:
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            call = await uow.pbx.call(source, call_id)
            events = await uow.pbx.events_of_call(source, call_id)
            if call is None:
                return None
            return {"state": call.state, "presence": call.presence, "reason": call.reason,
                    "notice_message_id": call.notice_message_id,
                    "answered_at": call.answered_at, "ended_at": call.ended_at,
                    "events": [(e.event_type, e.outcome) for e in events]}
    return beside_server(server, read)


def event_log(server: RunningServer) -> list[tuple[str, str, str | None]]:
    async def read(ctx: AppContext) -> list[tuple[str, str, str | None]]:
        from sqlalchemy import select

        from chat.store.models import PbxEvent
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            rows = (await uow.session.scalars(select(PbxEvent).order_by(PbxEvent.id))).all()
            return [(r.delivery_id, r.outcome, r.call_id) for r in rows]
    return beside_server(server, read)
