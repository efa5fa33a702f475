"""The websocket endpoint: a loop around :class:`chat.protocol.ConnectionProtocol`.

This adapter owns what the sans-I/O core cannot: time (deadlines), the socket, closing
it, and authentication; every other command goes to ``chat.web.ws_commands``, which
runs it and words its answer or fault. Commands from one connection run one at a time,
in order. Frames to the client are written without waiting
(``chat.web.transport``); a congested socket's frames wait in the connection's bounded
backlog (``chat.hub.Connection``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import MutableMapping
from functools import partial
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chat.actions.call_presence import call_presence
from chat.actions.channels import list_channels
from chat.actions.disaster import current_disaster, disaster_json
from chat.auth.sessions import (
    SESSION_COOKIE,
    Presented,
    Principal,
    authenticate,
    idle_deadline,
    record_use,
)
from chat.context import AppContext
from chat.errors import AccountDisabled, ChatError, DeviceRevoked
from chat.frames import encode, error_frame
from chat.hub import Connection, Hub
from chat.hub.connection import Outgoing
from chat.protocol import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY,
    CLOSE_RESYNC,
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN_LATER,
    Action,
    Authenticate,
    Close,
    ConnectionProtocol,
    Limits,
    Reply,
    Run,
)
from chat.store.faults import storage_fault
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON
from chat.web.admission import Admission, UnauthenticatedSockets
from chat.web.auth import client_host, request_url
from chat.web.reusable_timeout import ReusableTimeout
from chat.web.transport import SINK_EXTENSION, WebSocketProtocol
from chat.web.ws_commands import answer_command

log = logging.getLogger(__name__)

ASGIMessage = MutableMapping[str, Any]


def limits_for(ctx: AppContext) -> Limits:
    s = ctx.settings
    return Limits(max_frame_bytes=s.max_frame_bytes, idle_timeout=s.idle_timeout_seconds,
                  rate_per_second=s.send_rate_per_second, burst=s.send_burst,
                  auth_timeout=s.ws_auth_timeout_seconds)


async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.state.ctx
    hub: Hub = websocket.state.hub
    origin = websocket.headers.get("origin")
    # RFC 6455 §10.2: refuse browser pages from other sites (cross-site websocket
    # hijacking). Closing before accept makes the server answer the handshake with 403.
    if origin is not None and origin not in ctx.settings.origins:
        log.warning("websocket refused: origin %r not allowed", origin)
        await websocket.close(code=CLOSE_POLICY)
        return
    sink = websocket.scope.get("extensions", {}).get(SINK_EXTENSION)
    if not isinstance(sink, WebSocketProtocol):
        log.error("websocket refused: serve with ws=chat.web.transport.WebSocketProtocol "
                  "(tsunagu serve does)")
        await websocket.close(code=CLOSE_INTERNAL_ERROR)
        return
    admission = await _admit(websocket)
    if admission is None:
        return
    try:
        await websocket.accept()
        # The nonce the auth frame's DPoP proof must carry (RFC 9449 §8): no extra round
        # trip. Fresh per connection (random part) and required exactly, so a proof signed
        # for another connection or over a nonce from /auth/nonce does not open this one.
        nonce = ctx.require_proofs().nonce(ctx.clock.now())
        await websocket.send_text(encode({"type": "hello", "dpop_nonce": nonce}))
        session = ClientSession(websocket, ctx, hub, sink, hello_nonce=nonce)
        session.admission = admission
        await session.run()
    finally:
        admission.release()


async def _admit(websocket: WebSocket) -> Admission | None:
    """Count the socket among the unauthenticated ones (chat.web.admission) until its
    auth frame is accepted; over the cap for its address or the node, accept it only to
    say so (an ``error`` frame, then close 1013): a browser's websocket sees nothing of
    a refused handshake but close 1006, and 1013 tells it to come back later."""
    unauthenticated: UnauthenticatedSockets = websocket.state.unauthenticated
    address = client_host(websocket)
    admission = unauthenticated.admit(address)
    if admission is not None:
        return admission
    log.warning("websocket refused: too many unauthenticated connections (from %s: "
                "cap %d per address, %d in all)", address, unauthenticated.per_address,
                unauthenticated.total)
    with contextlib.suppress(WebSocketDisconnect, OSError):  # it may be gone already
        await websocket.accept()
        await websocket.send_text(encode(error_frame(
            "too_many_connections", "Too many connections are waiting to sign in; "
            "try again shortly", details={
                "message_ja": "接続が混み合っています。しばらくすると自動で再接続します。"})))
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="too many connections")
    return None


# Why a session ended, as its revocation records it (chat/actions/devices.py) -> the error
# frame sent just before close 4002: a page must tell a revoked device (which has to be
# enrolled again, so it stops offering passkey sign-in) from a session that merely ended.
SESSION_END_ERRORS: dict[str, type[ChatError]] = {
    "device revoked": DeviceRevoked,
    "account disabled": AccountDisabled,
}

class ClientSession:
    """One websocket's life, in the connection's own task: no other task per connection.

    Frames the client sends are read here, one at a time, in order. Frames for the
    client go through ``self.conn`` (the hub's :class:`Connection`): written straight
    to the socket, or kept in its bounded backlog while the socket is congested. Until
    the ``ready`` frame is out they are held back, and the replies before it are sent
    through Starlette.
    """

    __slots__ = ("_draining", "_idle_deadline", "_last_touch", "_policy_deadline",
                 "_receiving", "_session_deadline", "_timeout", "_touch_every", "admission",
                 "conn", "ctx", "hello_nonce", "hub", "principal", "protocol", "sink", "ws")

    def __init__(self, websocket: WebSocket, ctx: AppContext, hub: Hub,
                 sink: WebSocketProtocol, *, hello_nonce: str) -> None:
        self.ws = websocket
        self.hello_nonce = hello_nonce  # the auth frame's proof must carry exactly this
        self.ctx = ctx
        self.hub = hub
        self.sink = sink
        self.protocol = ConnectionProtocol(limits_for(ctx), now=ctx.clock.monotonic())
        self.conn = Connection(0, 0, max_backlog=ctx.settings.outgoing_queue_frames,
                               sink=sink)
        self.conn.wake = self._wake
        sink.on_drained = self.conn.flush
        sink.on_shutdown = self._server_restarting
        self.principal: Principal | None = None
        self.admission: Admission | None = None  # released once authenticated
        self._draining = False              # the node is shutting down (SIGTERM)
        # Every wait for a frame and every command's time limit: one timer, not one each.
        self._timeout = ReusableTimeout()
        self._receiving = False             # waiting for a frame: a close request ends it
        self._session_deadline = math.inf   # monotonic time the session expires
        self._policy_deadline = math.inf    # monotonic time to judge the off-hours policy again
        self._idle_deadline = math.inf      # monotonic time the session goes idle
        self._touch_every = ctx.settings.session_idle_seconds / 4
        self._last_touch = ctx.clock.monotonic()

    async def run(self) -> None:
        now = self.ctx.clock.monotonic()
        try:
            while True:
                if self.conn.close_requested is not None:
                    code, reason = self.conn.close_requested
                    self._close(code, reason, flush=code != CLOSE_RESYNC)
                    return
                if self._draining:
                    await self._perform(self.protocol.server_restarting())
                    return
                deadline = min(self.protocol.next_deadline(), self._session_deadline,
                               self._policy_deadline, self._idle_deadline)
                # Measured from when the last frame arrived (``now``), not from after its
                # replies went out: the client may act on a reply at once, and what it
                # does next must not find the deadline already passed.
                message = await self._receive(max(0.0, deadline - now))
                now = self.ctx.clock.monotonic()
                if self.conn.close_requested is None and not self._draining and \
                        not await self._handle(message, now):
                    return
                del message  # not kept while waiting: the auth frame is the largest
        except WebSocketDisconnect:
            return
        finally:
            self._timeout.disarm()
            self.sink.on_drained = None
            self.sink.on_shutdown = None
            self.conn.wake = None
            await self.hub.unregister(self.conn)

    async def _receive(self, within: float) -> ASGIMessage | None:
        """The next message from the socket; None after ``within`` seconds (``inf``: no
        limit) or when a close is requested (:meth:`_wake`)."""
        self._receiving = True
        try:
            async with self._timeout.after(within):
                return await self.ws.receive()
        except TimeoutError:
            return None
        finally:
            self._receiving = False

    def _server_restarting(self) -> None:
        """The node is shutting down (chat.web.transport ``shutdown``): no further frame
        is read; the command running now (a send waiting for its group commit) completes
        and is answered first, then the loop above closes 1012. Not a close request:
        those drop what is offered after them, and the answer must still go out."""
        self._draining = True
        self._wake()

    def _wake(self) -> None:
        """A close was requested (by the hub, or an overflowing backlog): stop waiting
        for the client. Outside the wait, the loop sees the request before it waits."""
        if self._receiving:
            self._timeout.expire_now()

    async def _handle(self, message: ASGIMessage | None, now: float) -> bool:
        """React to a client frame (or to a deadline when ``message`` is None); False
        once the connection is over."""
        if now >= self._session_deadline:
            await self._perform(self.protocol.session_ended("session expired"))
            return False
        if now >= self._policy_deadline and not await self._still_allowed():
            return False
        if now >= self._idle_deadline and not await self._still_in_use(now):
            return False
        if message is None:
            return await self._perform(self.protocol.tick(now=now))
        if message["type"] == "websocket.disconnect":
            return False
        text, data = message.get("text"), message.get("bytes")
        if isinstance(text, str):
            actions = self.protocol.receive_text(text, now=now)
        else:
            actions = self.protocol.receive_bytes(
                data if isinstance(data, bytes) else b"", now=now)
        if any(isinstance(action, Run) for action in actions):
            await self._keep_session_alive(now)
        return await self._perform(actions)

    async def _perform(self, actions: list[Action]) -> bool:
        """Carry out the core's actions; False once the connection is closed."""
        for action in actions:
            if isinstance(action, Reply):
                await self._send(encode(action.frame))
            elif isinstance(action, Close):
                self._close(action.code, action.reason, flush=True)
                return False
            elif isinstance(action, Run):
                more = await self._execute(action)
                if not await self._perform(more):
                    return False
        return True

    async def _send(self, text: str) -> None:
        if self.conn.is_open:
            self.conn.offer(text)
        else:
            await self.ws.send_text(text)

    def _close(self, code: int, reason: str, *, flush: bool) -> None:
        """Close now, never waiting for the client: what is waiting goes first unless
        ``flush`` is False (resync: the client reloads it all anyway)."""
        frames = self.conn.take_backlog()
        if flush and self.conn.is_open:
            for frame in frames:
                self.sink.write_frame(frame)
        why = SESSION_END_ERRORS.get(reason) if code == CLOSE_SESSION_ENDED else None
        if why is not None and self.conn.is_open:
            error = why()
            self.sink.write_frame(Outgoing(encode(error_frame(error.code, error.message))))
        self.sink.close_now(code, reason)

    async def _execute(self, run: Run) -> list[Action]:
        command = run.command
        if isinstance(command, Authenticate):
            return await self._authenticate(command, run.ref)
        assert self.principal is not None
        return await answer_command(self.ctx, self.protocol, run, self.principal,
                                    self.conn.channel_ids, self._timeout)

    async def _authenticate(self, command: Authenticate, ref: str | int | None
                            ) -> list[Action]:
        # The browser's HttpOnly cookie rode on the handshake (same-site only: the Origin
        # check above); scripts put the token in the frame.
        scheme, token = "frame", command.token
        if token is None:
            scheme, token = "cookie", self.ws.cookies.get(SESSION_COOKIE, "")
        try:
            principal = await authenticate(self.ctx, Presented(
                token=token, scheme=scheme, proof=command.proof, method="GET",
                url=request_url(self.ws), remote=client_host(self.ws),
                nonce=self.hello_nonce))
        except ChatError as exc:
            return self.protocol.auth_failed(exc, ref)
        except Exception as exc:
            fault = storage_fault(exc)
            if fault is not None:
                log.warning("authentication: storage unavailable (%s)", exc)
                return self.protocol.unavailable(fault, ref)
            log.exception("authentication failed unexpectedly")
            return self.protocol.internal_error(ref)
        self.principal = principal
        if principal.expires_at is not None:
            remaining = (principal.expires_at - self.ctx.clock.now()).total_seconds()
            self._session_deadline = self.ctx.clock.monotonic() + remaining
        if principal.idle_expires_at is not None:
            idle = (principal.idle_expires_at - self.ctx.clock.now()).total_seconds()
            self._idle_deadline = self.ctx.clock.monotonic() + idle
        await self._schedule_policy_check()
        self.conn.user_id, self.conn.session_id = principal.user_id, principal.session_id
        # Register before the snapshot: an event racing with it is queued (and sent after
        # the ready frame) rather than lost; clients drop what they already have by seq.
        async with unit_of_work(self.ctx.db, TxMode.SHORT_READ) as uow:
            channel_ids = await uow.channels.channel_ids_of(principal.user_id)
        await self.hub.register(self.conn, channel_ids)
        channels = await list_channels(self.ctx, actor=principal)
        self.protocol.auth_succeeded()
        # The timer set for the auth deadline would fire only to be set again for the
        # idle deadline, on every connection: the next wait arms it there at once.
        self._timeout.disarm()
        if self.admission is not None:
            self.admission.release()  # no longer counted as unauthenticated
        ready: JSON = {
            "type": "ready",
            "user": {"id": principal.user_id, "name": principal.name, "role": principal.role},
            "channels": channels,
            "online_user_ids": self.hub.online_user_ids(),
            "call_presence": await self.hub.call_presence(partial(call_presence, self.ctx)),
            "heartbeat_seconds": self.ctx.settings.idle_timeout_seconds / 3,
            "disaster": disaster_json(await current_disaster(self.ctx)),
        }
        if ref is not None:
            ready["ref"] = ref
        await self.ws.send_text(encode(ready))
        self.conn.open()
        return []

    async def _keep_session_alive(self, now: float) -> None:
        """What the person does (send, read, type, resync; not the page's automatic
        pings) is use: it slides the idle deadline, written back now and then (a quarter
        of the idle timeout), not on every frame."""
        if self.principal is None:
            return
        self._idle_deadline = now + self.ctx.settings.session_idle_seconds
        if now - self._last_touch < self._touch_every:
            return
        self._last_touch = now
        try:
            await record_use(self.ctx, session_id=self.principal.session_id,
                             device_id=self.principal.device_id)
        except Exception as exc:
            # Best effort: the command itself answers the client (with the retryable
            # code if the store is still unavailable); the touch comes again later.
            if storage_fault(exc) is None:
                raise
            self._last_touch = now - self._touch_every

    async def _still_in_use(self, now: float) -> bool:
        """At the idle deadline: the session may have been used elsewhere meanwhile (an
        HTTP refresh, another tab); otherwise it has ended, and so does the connection."""
        assert self.principal is not None
        async with unit_of_work(self.ctx.db, TxMode.SHORT_READ) as uow:
            session = await uow.sessions.by_id(self.principal.session_id)
        if session is not None and session.revoked_at is None:
            remaining = (idle_deadline(self.ctx, session.last_active_at)
                         - self.ctx.clock.now()).total_seconds()
            if remaining > 0:
                self._idle_deadline = now + remaining
                return True
        await self._perform(self.protocol.session_ended("session ended after inactivity"))
        return False

    async def _schedule_policy_check(self) -> None:
        """Judge the off-hours policy again when this user's allowance may end (closing
        time, or soon while only disaster mode allows them)."""
        self._policy_deadline = math.inf
        policy = await self.ctx.policy.current() if self.ctx.policy else None
        if policy is None or self.principal is None:
            return
        now = self.ctx.clock.now()
        moment = policy.next_check(self.principal.role, now)
        if moment is not None:
            wait = max(0.0, (moment - now).total_seconds())
            self._policy_deadline = self.ctx.clock.monotonic() + wait

    async def _still_allowed(self) -> bool:
        """False (and the connection closed with 4003, saying why) once the policy refuses."""
        assert self.ctx.policy is not None and self.principal is not None
        try:
            await self.ctx.policy.check(self.principal.role)
        except ChatError as refusal:
            await self._perform(self.protocol.working_hours_ended(refusal))
            return False
        await self._schedule_policy_check()
        return True
