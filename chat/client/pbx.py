"""A PBX simulator: realistic call sequences posted, signed, to a running server
(``tsunagu pbx simulate``), for demos and tests.

Signing uses the ``standardwebhooks`` reference package, so the simulator is also a
check that the server accepts exactly what the standard's own library produces.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from standardwebhooks import Webhook

SCENARIOS = {
    "answered": "rings, is answered, ends",
    "missed": "rings, nobody answers (no_answer)",
    "busy": "the extension is busy (busy)",
    "cancelled": "the caller hangs up while it rings (caller_cancelled)",
    "voicemail": "rings, goes to voicemail",
    "repeat": "the same caller misses three times (the notices collapse into one)",
    "shuffled": "an answered call whose events arrive in reverse order, each twice",
    "lost-end": "rings and is answered; the end event never comes (presence times out)",
    "internal": "one extension calls another, answered, ends",
}


@dataclass(frozen=True)
class Delivery:
    """One HTTP delivery: ``msg_id`` is the webhook-id (a retry repeats it)."""

    msg_id: str
    event: dict[str, Any]
    pause_before: float = 0.0


@dataclass(frozen=True)
class CallSpec:
    from_number: str = "03-5555-0101"
    to_number: str = "03-1111-2222"
    extension: str = "2101"
    caller_name: str | None = None
    hold_seconds: float = 2.0
    pause_seconds: float = 1.0


def _event(kind: str, call_id: str, at: datetime, spec: CallSpec, *,
           direction: str = "inbound", reason: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind, "call_id": call_id,
        "occurred_at": at.isoformat().replace("+00:00", "Z"), "direction": direction,
        "from": spec.from_number, "to": spec.to_number, "extension": spec.extension}
    if reason:
        event["reason"] = reason
    if spec.caller_name and direction != "internal":
        event["caller_name"] = spec.caller_name
    return event


def scenario(name: str, spec: CallSpec, *, now: datetime | None = None,
             new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]) -> list[Delivery]:
    """The deliveries of one scenario (see :data:`SCENARIOS`), in sending order."""
    start = now or datetime.now(UTC)
    pause = spec.pause_seconds

    def call(events: list[tuple[str, str | None, float]], *, direction: str = "inbound",
             offset: float = 0.0) -> list[Delivery]:
        call_id = f"sim-{new_id()}"
        out, at = [], start + timedelta(seconds=offset)
        for i, (kind, reason, after) in enumerate(events):
            at += timedelta(seconds=after)
            out.append(Delivery(f"msg_{new_id()}", _event(kind, call_id, at, spec,
                                                           direction=direction,
                                                           reason=reason),
                                pause_before=0.0 if i == 0 else min(after, 60.0)))
        return out

    ring = ("call.ringing", None, 0.0)
    if name == "answered":
        return call([ring, ("call.answered", None, pause),
                     ("call.ended", None, spec.hold_seconds)])
    if name == "missed":
        return call([ring, ("call.missed", "no_answer", pause)])
    if name == "busy":
        return call([ring, ("call.missed", "busy", 0.0)])
    if name == "cancelled":
        return call([ring, ("call.missed", "caller_cancelled", pause)])
    if name == "voicemail":
        return call([ring, ("call.voicemail", None, pause)])
    if name == "repeat":
        return [d for i in range(3)
                for d in call([ring, ("call.missed", "no_answer", pause)], offset=i * 60.0)]
    if name == "shuffled":
        ordered = call([ring, ("call.answered", None, pause),
                        ("call.ended", None, spec.hold_seconds)])
        return [Delivery(d.msg_id, d.event) for d in reversed(ordered) for _ in range(2)]
    if name == "lost-end":
        return call([ring, ("call.answered", None, pause)])
    if name == "internal":
        return call([ring, ("call.answered", None, pause),
                     ("call.ended", None, spec.hold_seconds)], direction="internal")
    raise ValueError(f"unknown scenario {name!r} (one of {', '.join(SCENARIOS)})")


@dataclass(frozen=True)
class Posted:
    delivery: Delivery
    status: int
    answer: dict[str, Any]


class PbxSimulator:
    """Posts deliveries to ``POST {base_url}/pbx/events`` signed with ``secret``."""

    def __init__(self, base_url: str, secret: str, *, timeout: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = base_url.rstrip("/") + "/pbx/events"
        self.webhook = Webhook(secret)
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep

    def signed(self, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(delivery.event, ensure_ascii=False)
        sent_at = self.clock()
        headers = {"content-type": "application/json", "webhook-id": delivery.msg_id,
                   "webhook-timestamp": str(int(sent_at.timestamp())),
                   "webhook-signature": self.webhook.sign(delivery.msg_id, sent_at, body)}
        return body.encode(), headers

    def run(self, deliveries: list[Delivery]) -> Iterator[Posted]:
        with httpx.Client(timeout=self.timeout) as http:
            for delivery in deliveries:
                if delivery.pause_before:
                    self.sleep(delivery.pause_before)
                body, headers = self.signed(delivery)
                response = http.post(self.url, content=body, headers=headers)
                try:
                    answer = response.json()
                except ValueError:
                    answer = {"raw": response.text[:200]}
                yield Posted(delivery, response.status_code, answer)
