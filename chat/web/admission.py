"""Admission of websockets that have not authenticated yet, per client address and per node.

Anyone can open a websocket; until its ``auth`` frame is accepted it costs a task, a
socket and its buffers while proving nothing (the auth deadline, 10 s by default, bounds
how long). A script opening thousands at once would exhaust the node's file descriptors
and memory before any deadline fires, so the node keeps at most
``ws_unauth_per_address`` of them per client address and ``ws_unauth_total`` in all.
Authenticated connections do not count: they are bounded by sessions, which need a
passkey.

The address is the one uvicorn puts in the ASGI scope: the peer's, or the one the trusted
proxy's ``X-Forwarded-For`` names when ``CHAT_FORWARDED_ALLOW_IPS`` lists that proxy.
A counter in memory, per node: a small dict, with an entry only while an address has
unauthenticated sockets open. No library does this for ASGI websockets (uvicorn's
``limit_concurrency`` counts every connection and task, authenticated ones included, and
answers a plain 503 browsers cannot read).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Admission:
    """One admitted, not yet authenticated socket; :meth:`release` (idempotent) when it
    authenticates or ends."""

    __slots__ = ("_address", "_gate")

    def __init__(self, gate: UnauthenticatedSockets, address: str) -> None:
        self._gate: UnauthenticatedSockets | None = gate
        self._address = address

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate._release(self._address)


@dataclass
class UnauthenticatedSockets:
    """The unauthenticated websockets open on this node, counted by client address."""

    per_address: int
    total: int
    _by_address: dict[str, int] = field(default_factory=dict)
    _count: int = 0

    def admit(self, address: str | None) -> Admission | None:
        """An :class:`Admission` for one more socket from ``address``, or None when the
        address or the node is at its cap."""
        key = address or "?"
        mine = self._by_address.get(key, 0)
        if mine >= self.per_address or self._count >= self.total:
            return None
        self._by_address[key] = mine + 1
        self._count += 1
        return Admission(self, key)

    @property
    def count(self) -> int:
        return self._count

    def _release(self, key: str) -> None:
        self._count -= 1
        left = self._by_address[key] - 1
        if left:
            self._by_address[key] = left
        else:
            del self._by_address[key]
