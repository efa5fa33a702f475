"""A Tsunagu client for scripts, tests and the benchmark: the wire contract of
docs/security.md ("Device-bound sessions") spoken over httpx and websockets.

Why a client of its own: the session token is bound to a device key, so every request and
every websocket handshake needs a fresh DPoP proof, the server's rolling nonce, and one
retry when that nonce has gone stale. Doing this in one place keeps tests and scripts from
each re-implementing (and subtly breaking) the contract.

The token travels as ``Authorization: DPoP <token>``, never as a cookie: the server sets
``tsunagu_session`` for browsers, and this client reads it once at sign-in and keeps its
own cookie jar closed.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl
import time
from collections.abc import Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from chat.auth.dpop import access_token_hash
from chat.client.authenticator import SoftwareAuthenticator
from chat.client.device import DeviceKey

SESSION_COOKIE = "tsunagu_session"


class ClientError(Exception):
    """The server refused (``status`` is the HTTP status, None for a websocket refusal),
    or this client cannot go on (e.g. ``not_signed_in``). ``code`` is the server's stable
    error code when there is one."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if status is None
                         else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @classmethod
    def from_response(cls, response: httpx.Response) -> ClientError:
        """The error of a non-success response: its ``{"error": {"code", "message"}}``,
        or ``http_<status>`` and the body's start when it is not in that shape."""
        try:
            error = response.json()["error"]
            return cls(str(error["code"]), str(error["message"]), status=response.status_code)
        except (ValueError, KeyError, TypeError):
            return cls(f"http_{response.status_code}", response.text[:200],
                       status=response.status_code)


def _asks_for_nonce(response: httpx.Response) -> bool:
    # RFC 9449 §9: a resource server answers a missing or stale nonce with 401,
    # WWW-Authenticate: DPoP error="use_dpop_nonce", and a DPoP-Nonce to use instead.
    return (response.status_code == 401
            and "use_dpop_nonce" in response.headers.get("WWW-Authenticate", "")
            and "DPoP-Nonce" in response.headers)


def _expect(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The JSON object of ``response`` if its status is one of ``statuses`` (an empty body
    reads as ``{}``); raises ClientError otherwise."""
    if response.status_code not in statuses:
        raise ClientError.from_response(response)
    if not response.content:
        return {}
    body = response.json()
    if not isinstance(body, dict):
        raise ClientError("unexpected_response", "the body is not a JSON object",
                          status=response.status_code)
    return body


async def _receive_frame(ws: ClientConnection) -> dict[str, Any]:
    try:
        raw = await ws.recv()
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        reason = closed.rcvd.reason if closed.rcvd is not None else ""
        raise ClientError("connection_closed",
                          f"the server closed the connection ({code} {reason})".strip()
                          ) from closed
    frame = jsonlib.loads(raw)
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ClientError("unexpected_frame", "the server sent a frame without a type")
    if frame["type"] == "error":
        raise ClientError(str(frame.get("code")), str(frame.get("message")))
    return frame


class TsunaguClient:
    """One device talking to one Tsunagu server.

    ``base_url`` is the server's public URL (``https://chat.example.jp``); ``origin``
    (default: the origin of ``base_url``) goes into WebAuthn client data and the websocket
    ``Origin`` header, and must be one the server accepts; ``ws_url`` defaults to
    ``base_url`` with ``ws(s)://`` and path ``/ws``. ``authenticator`` is needed only for
    :meth:`enroll` and :meth:`sign_in`. ``timeout`` bounds each HTTP request and the
    websocket handshake, in seconds. ``tls`` is the SSL context that verifies an https
    server (e.g. one trusting the city's own CA); None: the system's trusted CAs.

    State a caller may read: ``token`` (the session token, None when signed out) and
    ``nonce`` (the latest ``DPoP-Nonce``). ``clock`` gives each proof's ``iat`` (Unix
    seconds). Use as ``async with`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        device_key: DeviceKey,
        *,
        authenticator: SoftwareAuthenticator | None = None,
        origin: str | None = None,
        ws_url: str | None = None,
        timeout: float = 10,
        clock: Callable[[], float] = time.time,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("base_url must be an absolute http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.device_key = device_key
        self.authenticator = authenticator
        self.origin = origin or f"{parts.scheme}://{parts.netloc}"
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_url = ws_url or urlunsplit(
            (ws_scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))
        self.timeout = timeout
        # Unix seconds for each proof's iat (tests inject the server's clock).
        self.clock = clock
        self.token: str | None = None
        self.nonce: str | None = None
        self.tls = tls
        # A jar that accepts no cookie: the session goes in Authorization only, so the
        # server never sees a cookie and a header that could disagree.
        closed_jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                       cookies=closed_jar,
                                       verify=tls if tls is not None else True)

    async def __aenter__(self) -> TsunaguClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections. Websockets from :meth:`connect` are the caller's."""
        await self._http.aclose()

    # --- enrolment and sign-in ------------------------------------------------------------

    async def enroll(self, code: str) -> dict[str, Any]:
        """Enrol this device with the one-time ``code``: create a passkey for the options
        the server sends, then register it together with the device key. Returns the 201
        body (``device``, ``credential_id``). Raises ClientError (e.g.
        ``enrollment_code_used``, ``device_key_in_use``, ``passkey_invalid``)."""
        authenticator = self._require_authenticator()
        options = _expect(await self._send("POST", "/auth/enroll/options",
                                           json={"code": code}, prove=False), 200)
        credential = authenticator.make_credential(options["publicKey"], origin=self.origin)
        response = await self._send("POST", "/auth/enroll/complete",
                                    json={"code": code, "credential": credential},
                                    prove=True, bound=False)
        return _expect(response, 201)

    async def sign_in(self, *, credential_id: str | None = None) -> dict[str, Any]:
        """Sign in with the authenticator's passkey (its only or first one, or
        ``credential_id``) and bind the session to this device key. Keeps the token from
        the ``tsunagu_session`` cookie as :attr:`token` and returns the 200 body (``user``,
        ``device``, ``expires_at``, ...). Raises ClientError (e.g. ``device_mismatch``,
        ``off_hours``)."""
        authenticator = self._require_authenticator()
        request_body = {} if credential_id is None else {"credential_id": credential_id}
        options = _expect(await self._send("POST", "/auth/signin/options",
                                           json=request_body, prove=False), 200)
        assertion = authenticator.get_assertion(options["publicKey"], origin=self.origin)
        response = await self._send("POST", "/auth/signin", json={"credential": assertion},
                                    prove=True, bound=False)
        body = _expect(response, 200)
        token = response.cookies.get(SESSION_COOKIE)
        if not token:
            raise ClientError("session_cookie_missing",
                              f"sign-in succeeded without a {SESSION_COOKIE} cookie",
                              status=response.status_code)
        # The body's ath is what a browser signs with, as it cannot read the cookie; it
        # must be the hash of the token we read, or our proofs would all be refused.
        if body.get("ath") != access_token_hash(token):
            raise ClientError("session_ath_mismatch",
                              "the ath in the body is not the hash of the session cookie",
                              status=response.status_code)
        self.token = token
        return body

    # --- the session ----------------------------------------------------------------------

    async def request(self, method: str, path: str, *, json: Any = None,
                      data: dict[str, Any] | None = None,
                      files: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        """Send ``method path`` with a fresh proof (with ``ath`` and ``Authorization: DPoP``
        once signed in). ``data`` / ``files`` send a form (the admin console's). A 401
        ``use_dpop_nonce`` is retried once with the new nonce; any other response,
        success or not, is returned as is."""
        return await self._send(method, path, json=json, data=data, files=files,
                                headers=headers, prove=True, bound=True)

    async def refresh(self) -> dict[str, Any]:
        """Slide the session's idle deadline; returns ``expires_at``, ``idle_expires_at``."""
        self._require_token()
        return _expect(await self.request("POST", "/api/session/refresh"), 200)

    async def sign_out(self) -> None:
        """End the session on the server, then forget the token."""
        self._require_token()
        response = await self.request("POST", "/api/session/sign-out")
        if not response.is_success:
            raise ClientError.from_response(response)
        self.token = None

    async def connect(self) -> tuple[ClientConnection, dict[str, Any]]:
        """Open ``/ws`` and authenticate it: answer the ``hello`` frame's nonce with an
        ``auth`` frame (token and a proof for ``GET ws_url``). Returns the connection,
        now the caller's to close, and the ``ready`` frame.

        Raises ClientError with the server's code for an ``error`` frame,
        ``connection_closed`` if it closes instead, ``handshake_refused`` (with the HTTP
        status) if the upgrade is refused, and TimeoutError past ``timeout``.
        """
        token = self._require_token()
        # websockets refuses ssl=None for wss:// and any ssl for ws://: pass it only when set.
        tls: dict[str, Any] = {"ssl": self.tls} if self.tls is not None else {}
        try:
            ws = await ws_connect(self.ws_url, origin=Origin(self.origin),
                                  open_timeout=self.timeout, **tls)
        except InvalidStatus as refused:  # e.g. 403 for an origin the server does not allow
            status = refused.response.status_code
            raise ClientError("handshake_refused", f"the websocket handshake got {status}",
                              status=status) from refused
        try:
            async with asyncio.timeout(self.timeout):
                hello = await _receive_frame(ws)
                nonce = hello.get("dpop_nonce")
                if hello["type"] != "hello" or not isinstance(nonce, str):
                    raise ClientError("unexpected_frame",
                                      f"expected hello with a dpop_nonce, got {hello['type']}")
                proof = self.device_key.proof("GET", self.ws_url, nonce=nonce,
                                              access_token=token, iat=int(self.clock()))
                await ws.send(jsonlib.dumps({"type": "auth", "token": token, "proof": proof}))
                frame = await _receive_frame(ws)
            if frame["type"] != "ready":
                raise ClientError("unexpected_frame", f"expected ready, got {frame['type']}")
        except BaseException:
            await ws.close()
            raise
        return ws, frame

    # --- plumbing -------------------------------------------------------------------------

    async def _send(self, method: str, path: str, *, json: Any = None,
                    data: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None, prove: bool,
                    bound: bool = False) -> httpx.Response:
        response = await self._send_once(method, path, json=json, data=data, files=files,
                                         headers=headers, prove=prove, bound=bound)
        if prove and _asks_for_nonce(response):
            response = await self._send_once(method, path, json=json, data=data,
                                             files=files, headers=headers, prove=prove,
                                             bound=bound)
        return response

    async def _send_once(self, method: str, path: str, *, json: Any,
                         data: dict[str, Any] | None = None,
                         files: dict[str, Any] | None = None,
                         headers: dict[str, str] | None, prove: bool,
                         bound: bool) -> httpx.Response:
        request = self._http.build_request(method, path, json=json, data=data, files=files,
                                           headers=headers)
        if prove:
            token = self.token if bound else None
            if token is not None:
                request.headers["Authorization"] = f"DPoP {token}"
            request.headers["DPoP"] = self.device_key.proof(
                method, str(request.url), nonce=self.nonce, access_token=token,
                iat=int(self.clock()))
        response = await self._http.send(request)
        # Every /auth/ and /api/ response carries a fresh nonce, errors included.
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        return response

    def _require_authenticator(self) -> SoftwareAuthenticator:
        if self.authenticator is None:
            raise ClientError("no_authenticator", "this client was given no authenticator")
        return self.authenticator

    def _require_token(self) -> str:
        if self.token is None:
            raise ClientError("not_signed_in", "sign in first")
        return self.token
