"""The websocket session as a sans-I/O state machine: frames in, actions out.

It parses and validates client frames, enforces the authentication handshake, frame
size, rate limits and idle deadlines, and turns each valid frame into a :class:`Run`
command for the adapter (``chat.web.ws``) to execute. It reads no clock (the caller
passes ``now``, in monotonic seconds) and touches no socket or database, so every rule
here is tested without a server (tests/unit/test_protocol.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chat.errors import (
    ChatError,
    FrameTooLarge,
    InvalidFrame,
    MalformedJson,
    RateLimited,
    UnknownFrameType,
)
from chat.frames import error_frame
from chat.types import JSON

# RFC 6455 §7.4.1: 1008 = policy violation. §7.4.2: 4000-4999 are for private use.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_IDLE = 4000
CLOSE_RESYNC = 4001  # outgoing queue overflowed: reconnect, then resync from last seq
CLOSE_SESSION_ENDED = 4002  # the session was revoked or expired: sign in again
CLOSE_OFF_HOURS = 4003  # working hours ended (off-hours policy): come back when it opens
# "Try Again Later" (IANA registry, RFC 6455 §7.4.2): the node cannot serve this
# connection now (over a limit, its store unavailable).
CLOSE_TRY_AGAIN_LATER = 1013
# RFC 6455 §7.4.1 "Service Restart": the node is shutting down after answering what it
# had; reconnect soon (to another node) and resend what was not acknowledged.
CLOSE_SERVICE_RESTART = 1012
# The hint in the ``server.restarting`` frame sent before close 1012.
RESTART_RETRY_AFTER_MS = 500

MAX_REF_CHARS = 64
MAX_RESYNC_LIMIT = 500
MAX_MENTIONS = 50
MAX_STAMP_CHARS = 32


class State(Enum):
    AWAITING_AUTH = "awaiting_auth"
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    CLOSED = "closed"


# --- commands for the adapter to run ---------------------------------------------------

@dataclass(frozen=True)
class Authenticate:
    """The auth frame: a session token (absent when the browser's cookie carries it) and
    a DPoP proof of the device key (absent only for development sessions)."""

    token: str | None
    proof: str | None


@dataclass(frozen=True)
class SendMessage:
    channel_id: int
    client_id: str
    body: str
    reply_to: int | None = None
    mentions: tuple[int, ...] = ()
    attachment_id: int | None = None


@dataclass(frozen=True)
class EditMessage:
    message_id: int
    body: str


@dataclass(frozen=True)
class DeleteMessage:
    message_id: int


@dataclass(frozen=True)
class Resync:
    channel_id: int
    after_seq: int
    after_version: int | None
    limit: int


@dataclass(frozen=True)
class MarkRead:
    channel_id: int
    seq: int


@dataclass(frozen=True)
class Typing:
    channel_id: int


@dataclass(frozen=True)
class React:
    """``react`` (on) or ``unreact``: a stamp on a message."""

    message_id: int
    emoji: str
    on: bool


@dataclass(frozen=True)
class Pin:
    """``pin`` or ``unpin``."""

    message_id: int
    pinned: bool


@dataclass(frozen=True)
class Confirm:
    """確認しました on an announcement."""

    message_id: int


Command = (Authenticate | SendMessage | EditMessage | DeleteMessage | Resync | MarkRead
           | Typing | React | Pin | Confirm)


# --- actions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    """Send this frame to this client."""

    frame: JSON


@dataclass(frozen=True)
class Run:
    """Execute ``command``; answer errors with ``ref`` echoed."""

    command: Command
    ref: str | int | None


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


Action = Reply | Run | Close


@dataclass(frozen=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
    auth_timeout: float = 10.0
    idle_timeout: float = 90.0
    rate_per_second: float = 10.0
    burst: int = 30
    # Consecutive rate-limited frames after which the connection is closed.
    max_strikes: int = 50
    typing_interval: float = 2.0
    resync_page: int = 100


class ConnectionProtocol:
    """One client connection's protocol state."""

    def __init__(self, limits: Limits, *, now: float) -> None:
        self.limits = limits
        self.state = State.AWAITING_AUTH
        self._opened_at = now
        self._last_frame_at = now
        self._tokens = float(limits.burst)
        self._tokens_at = now
        self._strikes = 0
        self._typing_at: dict[int, float] = {}

    # -- input --------------------------------------------------------------------------

    def receive_text(self, text: str, *, now: float) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        self._last_frame_at = now
        # A character is at most 4 bytes in UTF-8: encode only when it could matter.
        if len(text) * 4 > self.limits.max_frame_bytes and \
                len(text.encode()) > self.limits.max_frame_bytes:
            return self._refuse(FrameTooLarge(
                f"Frames are limited to {self.limits.max_frame_bytes} bytes"), None, now)
        try:
            frame = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return self._refuse(MalformedJson("The frame is not valid JSON"), None, now)
        if not isinstance(frame, dict):
            return self._refuse(InvalidFrame("A frame must be a JSON object"), None, now)
        ref = frame.get("ref")
        if ref is not None and not (
                (isinstance(ref, str) and len(ref) <= MAX_REF_CHARS)
                or (isinstance(ref, int) and not isinstance(ref, bool))):
            return self._refuse(InvalidFrame("ref must be a short string or an integer"),
                                None, now)
        if _SURROGATE_ESCAPE.search(text) and not _storable(frame):
            return self._refuse(MalformedJson("The frame has text that is not valid Unicode"),
                                ref, now)
        kind = frame.get("type")
        if self.state is not State.OPEN:
            return self._before_open(kind, frame, ref)
        if kind == "ping":
            return [Reply(_with_ref({"type": "pong"}, ref))]
        limited = self._rate_limit(ref, now)
        if limited is not None:
            return limited
        try:
            command = self._parse(kind, frame, now)
        except ChatError as exc:
            return [Reply(error_frame(exc.code, exc.message, ref))]
        return [] if command is None else [Run(command, ref)]

    def receive_bytes(self, data: bytes, *, now: float) -> list[Action]:
        """Binary frames are not part of the protocol."""
        self._last_frame_at = now
        if self.state is not State.OPEN:
            return self._close(CLOSE_POLICY, "authenticate first")
        return self._refuse(InvalidFrame("Binary frames are not supported"), None, now)

    # -- results from the adapter -------------------------------------------------------

    def auth_succeeded(self) -> None:
        assert self.state is State.AUTHENTICATING
        self.state = State.OPEN

    def auth_failed(self, error: ChatError, ref: str | int | None = None) -> list[Action]:
        return self._error_and_close(error.code, error.message, ref, "authentication failed",
                                     details=error.details())

    def internal_error(self, ref: str | int | None = None) -> list[Action]:
        """The server failed unexpectedly (RFC 6455 §7.4.1, 1011). The command may or may
        not have taken effect: the client reconnects, resyncs, and resends with the same
        client id (which stores nothing twice)."""
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        return [Reply(error_frame("internal_error", "Internal error; reconnect and resync",
                                  ref)),
                Close(CLOSE_INTERNAL_ERROR, "internal error")]

    def unavailable(self, error: ChatError, ref: str | int | None = None) -> list[Action]:
        """The store could not check the session now (``storage_unavailable``): say so,
        then close 1013 (try again later). Not 1008, which tells the page the sign-in
        was refused, nor 1011: nothing is broken, the page reconnects with its backoff."""
        if self.state is State.CLOSED:
            return []
        return [Reply(error_frame(error.code, error.message, ref, details=error.details())),
                *self._close(CLOSE_TRY_AGAIN_LATER, "storage unavailable")]

    def server_restarting(self) -> list[Action]:
        """The node is shutting down (SIGTERM) and this connection's command in flight,
        if any, has been answered: say when to come back, then close 1012. Frames the
        client sent meanwhile were not read; its outbox sends them again elsewhere."""
        if self.state is State.CLOSED:
            return []
        return [Reply({"type": "server.restarting", "retry_after_ms": RESTART_RETRY_AFTER_MS}),
                *self._close(CLOSE_SERVICE_RESTART, "server restarting")]

    def session_ended(self, reason: str) -> list[Action]:
        return self._close(CLOSE_SESSION_ENDED, reason)

    def working_hours_ended(self, error: ChatError) -> list[Action]:
        """The off-hours policy now refuses this user: say why, then close 4003."""
        if self.state is State.CLOSED:
            return []
        return [Reply(error_frame(error.code, error.message, details=error.details())),
                *self._close(CLOSE_OFF_HOURS, "outside working hours")]

    # -- time ---------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """When :meth:`tick` must next be called (monotonic seconds)."""
        if self.state in (State.AWAITING_AUTH, State.AUTHENTICATING):
            return self._opened_at + self.limits.auth_timeout
        return self._last_frame_at + self.limits.idle_timeout

    def tick(self, *, now: float) -> list[Action]:
        if self.state in (State.AWAITING_AUTH, State.AUTHENTICATING):
            if now >= self._opened_at + self.limits.auth_timeout:
                return self._close(CLOSE_POLICY, "authentication timed out")
        elif self.state is State.OPEN and now >= self._last_frame_at + self.limits.idle_timeout:
            return self._close(CLOSE_IDLE, "idle timeout")
        return []

    # -- internals ----------------------------------------------------------------------

    def _close(self, code: int, reason: str) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        return [Close(code, reason)]

    def _error_and_close(self, code: str, message: str, ref: Any, reason: str, *,
                         details: dict[str, str | int] | None = None) -> list[Action]:
        """An error frame, then a policy-violation close (RFC 6455 §7.4.1, 1008)."""
        return [Reply(error_frame(code, message, ref, details=details)),
                *self._close(CLOSE_POLICY, reason)]

    def _refuse(self, error: ChatError, ref: Any, now: float) -> list[Action]:
        if self.state is not State.OPEN:
            return self._error_and_close(error.code, error.message, ref, "authenticate first")
        # Garbage costs a token like any frame, so flooding it ends in a close too.
        limited = self._rate_limit(ref, now)
        if limited is not None:
            return limited
        return [Reply(error_frame(error.code, error.message, ref))]

    def _rate_limit(self, ref: Any, now: float) -> list[Action] | None:
        """None when the frame may proceed; else a rate_limited error or, after too many
        refusals in a row, a policy close."""
        if self._take_token(now):
            self._strikes = 0
            return None
        self._strikes += 1
        if self._strikes >= self.limits.max_strikes:
            return self._close(CLOSE_POLICY, "rate limit exceeded repeatedly")
        return [Reply(error_frame(RateLimited.code, RateLimited.default_message, ref))]

    def _before_open(self, kind: Any, frame: JSON, ref: Any) -> list[Action]:
        if self.state is State.AUTHENTICATING:
            # Frames sent before the ready frame are a client bug: refuse, do not queue.
            return [Reply(error_frame("not_ready", "Wait for the ready frame", ref))]
        if kind != "auth":
            return self._error_and_close("unauthenticated", "Send an auth frame first", ref,
                                         "authenticate first")
        token, proof = frame.get("token"), frame.get("proof")
        if token is not None and (not isinstance(token, str) or not token):
            return self._error_and_close(InvalidFrame.code, "token must be a non-empty string",
                                         ref, "authentication failed")
        if proof is not None and (not isinstance(proof, str) or not proof):
            return self._error_and_close(InvalidFrame.code, "proof must be a non-empty string",
                                         ref, "authentication failed")
        if token is None and proof is None:
            return self._error_and_close(InvalidFrame.code, "auth needs a token or a proof",
                                         ref, "authentication failed")
        self.state = State.AUTHENTICATING
        return [Run(Authenticate(token, proof), ref)]

    def _take_token(self, now: float) -> bool:
        elapsed = max(0.0, now - self._tokens_at)
        self._tokens = min(float(self.limits.burst),
                           self._tokens + elapsed * self.limits.rate_per_second)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _parse(self, kind: Any, frame: JSON, now: float) -> Command | None:
        if kind == "send":
            return SendMessage(_int(frame, "channel_id"), _str(frame, "client_id"),
                               _str(frame, "body"), reply_to=_optional_int(frame, "reply_to"),
                               mentions=_mentions(frame),
                               attachment_id=_optional_int(frame, "attachment_id"))
        if kind in ("react", "unreact"):
            emoji = _str(frame, "emoji")
            if not 0 < len(emoji) <= MAX_STAMP_CHARS:
                raise InvalidFrame(f"emoji must be 1 to {MAX_STAMP_CHARS} characters")
            return React(_int(frame, "message_id"), emoji, on=kind == "react")
        if kind in ("pin", "unpin"):
            return Pin(_int(frame, "message_id"), pinned=kind == "pin")
        if kind == "confirm":
            return Confirm(_int(frame, "message_id"))
        if kind == "edit":
            return EditMessage(_int(frame, "message_id"), _str(frame, "body"))
        if kind == "delete":
            return DeleteMessage(_int(frame, "message_id"))
        if kind == "resync":
            after_version = frame.get("after_version")
            limit = frame.get("limit", self.limits.resync_page)
            if not isinstance(limit, int) or isinstance(limit, bool) or \
                    not 1 <= limit <= MAX_RESYNC_LIMIT:
                raise InvalidFrame(f"limit must be an integer from 1 to {MAX_RESYNC_LIMIT}")
            return Resync(_int(frame, "channel_id"), _int(frame, "after_seq"),
                          None if after_version is None else _int(frame, "after_version"),
                          limit)
        if kind == "read":
            return MarkRead(_int(frame, "channel_id"), _int(frame, "seq"))
        if kind == "typing":
            channel_id = _int(frame, "channel_id")
            last = self._typing_at.get(channel_id)
            if last is not None and now - last < self.limits.typing_interval:
                return None  # throttled: typing is best effort
            self._typing_at[channel_id] = now
            return Typing(channel_id)
        if kind == "auth":
            raise InvalidFrame("Already authenticated")
        if not isinstance(kind, str):
            raise InvalidFrame("A frame needs a string type")
        raise UnknownFrameType(f"Unknown frame type {kind[:40]!r}")


# JSON may escape half of a UTF-16 pair ("\ud800"), which no database can store; such a
# frame is refused like malformed JSON (chat.web.errors.read_json_object does the same for
# HTTP bodies). The full check runs only when the raw text holds such an escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _storable(frame: JSON) -> bool:
    try:
        json.dumps(frame, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _with_ref(frame: JSON, ref: Any) -> JSON:
    if ref is not None:
        frame["ref"] = ref
    return frame


def _int(frame: JSON, key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidFrame(f"{key} must be an integer")
    if not 0 <= value < 2**63:
        raise InvalidFrame(f"{key} is out of range")
    return value


def _optional_int(frame: JSON, key: str) -> int | None:
    return None if frame.get(key) is None else _int(frame, key)


def _mentions(frame: JSON) -> tuple[int, ...]:
    value = frame.get("mentions")
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_MENTIONS:
        raise InvalidFrame(f"mentions must be a list of at most {MAX_MENTIONS} user ids")
    return tuple(_int({"mentions": item}, "mentions") for item in value)


def _str(frame: JSON, key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise InvalidFrame(f"{key} must be a string")
    return value
