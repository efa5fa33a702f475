"""Web Push: subscriptions, and pushing new messages and phone notices to members.

Pushing is registered inside the write (``uow.on_commit``) and runs after the commit in
a background task on the node that made the write (``chat.webpush.WebPush.spawn``), so
the sender never waits for a push service and a rolled-back write pushes nothing. The
job reads who to tell (members, mute flags, their devices' subscriptions) on its own,
sends each push, and forgets subscriptions the push service says are gone (404, 410).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.kinds import MessageKind
from chat.domain.push import PushNote, message_notes, notice_note, recipients
from chat.domain.push_endpoints import Endpoint, EndpointRefused, parse_endpoint
from chat.errors import BadRequest, PushEndpointRefused
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON
from chat.webpush import Delivery, resolve_checked

log = logging.getLogger(__name__)

MAX_ENDPOINT_CHARS = 1000
GONE = frozenset({404, 410})  # RFC 8030 §7.3: the subscription no longer exists


def public_key(ctx: AppContext) -> str:
    if ctx.push is None:
        raise RuntimeError("Web Push runs on a serving node")
    return ctx.push.public_key


def _b64url_bytes(value: object, name: str, size: int) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise BadRequest(f"keys.{name} must be a base64url string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest(f"keys.{name} must be base64url") from None
    if len(raw) != size:
        raise BadRequest(f"keys.{name} must be {size} bytes")
    return value


def check_endpoint(ctx: AppContext, endpoint: object) -> Endpoint:
    """A push service URL the server may connect to (``chat.domain.push_endpoints``:
    https, no credentials, a public host; http on 127.0.0.1 only for tests)."""
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= MAX_ENDPOINT_CHARS:
        raise BadRequest(f"endpoint must be a URL of at most {MAX_ENDPOINT_CHARS} chars")
    try:
        return parse_endpoint(
            endpoint, allowed_hosts=ctx.settings.push_allowed_hosts,
            allow_test_loopback=ctx.settings.push_allow_http_loopback)
    except EndpointRefused as refused:
        raise PushEndpointRefused(str(refused)) from None


async def subscribe(ctx: AppContext, *, actor: Principal, endpoint: object,
                    keys: object) -> JSON:
    """Store this browser's subscription for the actor on their device (a browser that
    signs in as someone else takes its endpoint along)."""
    checked = check_endpoint(ctx, endpoint)
    assert isinstance(endpoint, str)
    url = endpoint
    if not isinstance(keys, dict):
        raise BadRequest("keys must be an object with p256dh and auth")
    # RFC 8291 §3.2: an uncompressed P-256 point and a 16-byte authentication secret.
    p256dh = _b64url_bytes(keys.get("p256dh"), "p256dh", 65)
    auth = _b64url_bytes(keys.get("auth"), "auth", 16)
    # Early feedback on a name resolving inside the network; the check that protects is
    # the one at every send (chat.webpush), since DNS answers can change.
    try:
        await resolve_checked(checked)
    except EndpointRefused as refused:
        raise PushEndpointRefused(str(refused)) from None
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.push.save(user_id=actor.user_id, device_id=actor.device_id, endpoint=url,
                            p256dh=p256dh, auth=auth, now=ctx.clock.now())
    return {"subscribed": True}


async def unsubscribe(ctx: AppContext, *, actor: Principal, endpoint: object) -> JSON:
    if not isinstance(endpoint, str) or not endpoint:
        raise BadRequest("endpoint must be a string")
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        removed = await uow.push.remove(endpoint, user_id=actor.user_id)
    return {"unsubscribed": removed}


# --- sending ----------------------------------------------------------------------------

@dataclass(frozen=True)
class NewMessagePush:
    """What a push for one new message says and who it skips."""

    channel_id: int
    channel_kind: str
    channel_name: str
    message_id: int
    sender_id: int
    sender_name: str
    body: str
    kind: MessageKind
    mentioned: Sequence[int]


async def push_new_messages(ctx: AppContext, uow: UnitOfWork,
                            messages: Sequence[NewMessagePush], *,
                            flags_of: dict[int, dict[int, bool]] | None = None) -> None:
    """After commit: push people's new messages to their channels' members (not the
    sender; not those who muted the channel, unless mentioned). The batch of sends'
    own transaction reads who of its channels' members can be pushed to (one query;
    usually a few of a 700-member channel; ``flags_of`` if it read them already, as
    :meth:`ChannelRepository.subscriber_mute_flags` gives them), so no job starts when
    nobody can be."""
    push = ctx.push
    if push is None or not messages:
        return
    if flags_of is None:
        flags_of = await uow.channels.subscriber_mute_flags(
            {m.channel_id for m in messages})
    if not flags_of:
        return

    async def job() -> None:
        for m in messages:
            flags = flags_of.get(m.channel_id)
            if not flags:       # nobody in the channel can be pushed to
                continue
            plain, mentions = recipients(flags, sender_id=m.sender_id, mentioned=m.mentioned)
            notes = {mention: message_notes(
                channel_id=m.channel_id, channel_kind=m.channel_kind,
                channel_name=m.channel_name, message_id=m.message_id,
                sender_name=m.sender_name, body=m.body, kind=m.kind,
                mentioned=mention) for mention in (False, True)}
            await _send(ctx, [(plain, notes[False]), (mentions, notes[True])])

    async def start() -> None:
        push.spawn(job(), name=f"push messages from {messages[0].message_id}")

    uow.on_commit(start)


def push_notice(ctx: AppContext, uow: UnitOfWork, *, channel_id: int, kind: MessageKind,
                message_id: int, body: str) -> None:
    """After commit: push a system notice (a missed call, a phone memo…) to the
    channel's members who did not mute it."""
    push = ctx.push
    if push is None:
        return

    async def job() -> None:
        async with unit_of_work(ctx.db, TxMode.READ) as reader:
            flags = (await reader.channels.subscriber_mute_flags([channel_id])).get(channel_id)
        if not flags:
            return
        plain, _ = recipients(flags, sender_id=None)
        await _send(ctx, [(plain, notice_note(kind=kind, channel_id=channel_id,
                                              message_id=message_id, body=body))])

    async def start() -> None:
        push.spawn(job(), name=f"push notice {message_id}")

    uow.on_commit(start)


def push_broadcast(ctx: AppContext, uow: UnitOfWork, *, channel_id: int, note: PushNote,
                   sender_id: int | None, only: Sequence[int] | None = None) -> None:
    """After commit: push an urgent broadcast to the channel's members (not the sender)
    whether or not they muted it: mute never silences a broadcast. ``only`` narrows it
    to those people (a repeat, to whoever has not confirmed)."""
    push = ctx.push
    if push is None:
        return

    async def job() -> None:
        async with unit_of_work(ctx.db, TxMode.READ) as reader:
            flags = (await reader.channels.subscriber_mute_flags([channel_id])).get(channel_id)
        wanted = set(only) if only is not None else None
        everyone = sorted(u for u in flags or {} if u != sender_id
                          and (wanted is None or u in wanted))
        await _send(ctx, [(everyone, note)])

    async def start() -> None:
        push.spawn(job(), name=f"push broadcast {note.message_id}")

    uow.on_commit(start)


async def _send(ctx: AppContext, batches: list[tuple[list[int], PushNote]]) -> None:
    gone: list[str] = []
    for user_ids, note in batches:
        if not user_ids:
            continue
        async with unit_of_work(ctx.db, TxMode.READ) as reader:
            targets = [Delivery(s.endpoint, s.p256dh, s.auth)
                       for s in await reader.push.deliverable(user_ids)]
        gone += await _statuses(ctx, targets, note)
    await _forget(ctx, gone)


async def _statuses(ctx: AppContext, targets: list[Delivery], note: PushNote) -> list[str]:
    """Deliver ``note`` to every target concurrently (at most CONCURRENCY at a time per
    node: WebPush.deliver); the endpoints that are gone. Each delivery fails alone:
    ``deliver`` never raises, and should it, the others still finish."""
    assert ctx.push is not None
    payload = note.payload()
    statuses = await asyncio.gather(*(
        ctx.push.deliver(target, payload, ttl=note.ttl, urgency=note.urgency)
        for target in targets), return_exceptions=True)
    for status in statuses:
        if isinstance(status, BaseException):
            log.error("a push delivery raised", exc_info=status)
    return [t.endpoint for t, status in zip(targets, statuses, strict=True)
            if isinstance(status, int) and status in GONE]


async def _forget(ctx: AppContext, gone: list[str]) -> None:
    if not gone:
        return
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        for endpoint in gone:
            await uow.push.remove(endpoint)
    log.info("forgot %d push subscription(s) the push service no longer knows", len(gone))


def push_to_everyone(ctx: AppContext, uow: UnitOfWork, note: PushNote, *, name: str) -> None:
    """After commit: push ``note`` to every deliverable subscription, muted or not (a
    disaster's declaration and its end). Nothing is sent if the write rolls back."""
    push = ctx.push
    if push is None:
        return

    async def job() -> None:
        async with unit_of_work(ctx.db, TxMode.READ) as reader:
            targets = [Delivery(s.endpoint, s.p256dh, s.auth)
                       for s in await reader.push.deliverable_to_everyone()]
        await _deliver(ctx, targets, note)

    async def start() -> None:
        push.spawn(job(), name=name)

    uow.on_commit(start)


async def _deliver(ctx: AppContext, targets: list[Delivery], note: PushNote) -> None:
    await _forget(ctx, await _statuses(ctx, targets, note))


def push_to_people(ctx: AppContext, uow: UnitOfWork, note: PushNote, *,
                   user_ids: Sequence[int] | None) -> None:
    """After commit: push ``note`` to these people whatever they muted (None: every
    active person), e.g. a roll call to everyone, its reminder to those who have not
    answered."""
    push = ctx.push
    if push is None:
        return

    async def job() -> None:
        targets = user_ids
        if targets is None:
            async with unit_of_work(ctx.db, TxMode.READ) as reader:
                targets = list(await reader.users.active_ids())
        await _send(ctx, [(list(targets), note)])

    async def start() -> None:
        push.spawn(job(), name=f"push {note.kind} {note.message_id}")

    uow.on_commit(start)
