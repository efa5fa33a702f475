"""Commands from an authenticated websocket: each run through ``chat.actions`` and
answered with one frame — its result, its refusal, or the retryable storage fault.

The session loop (``chat.web.ws``) owns the socket and time; this module owns what a
command does and how its failure is told to the client, so adding a command touches
only here and ``chat/protocol.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from chat.actions import message_edits, message_reads
from chat.actions import messages as message_actions
from chat.actions import reactions as reaction_actions
from chat.actions import reads as read_actions
from chat.auth.sessions import Principal
from chat.bus.topics import channel_topic
from chat.context import AppContext
from chat.errors import ChatError, NotAMember, StorageUnavailable
from chat.frames import encode, error_frame
from chat.protocol import (
    Action,
    Confirm,
    ConnectionProtocol,
    DeleteMessage,
    EditMessage,
    MarkRead,
    Pin,
    React,
    Reply,
    Resync,
    Run,
    SendMessage,
    Typing,
)
from chat.store.faults import storage_fault
from chat.types import JSON
from chat.web.reusable_timeout import ReusableTimeout

log = logging.getLogger(__name__)


async def answer_command(ctx: AppContext, protocol: ConnectionProtocol, run: Run,
                         actor: Principal, channel_ids: Collection[int],
                         limit: ReusableTimeout) -> list[Action]:
    """Run ``run``'s command for ``actor`` and say what to send back: its answer (with
    the command's ``ref``), its refusal as an error frame, the retryable storage fault
    (the connection stays open), or, for an unexpected failure, close 1011.

    ``channel_ids`` are the connection's channels as the hub knows them (typing is
    authorised against them, without a database round trip). ``limit`` is the
    session's timeout, reused for each command (one timer per connection, not one per
    command)."""
    command = run.command
    settings = ctx.settings
    # A store that hangs (a frozen server, a lock never released) must not hold the
    # client's answer: past the longest a healthy command may wait for a pooled
    # connection and run, it is answered as a storage fault. A send whose write is
    # already under way may still be stored; resent with its client id, it is then
    # acknowledged as a duplicate, never stored twice.
    try:
        async with limit.after(settings.db_pool_timeout_seconds
                               + settings.db_statement_timeout_seconds):
            frame = await run_command(ctx, command, actor, channel_ids)
    except ChatError as exc:
        frame = error_frame(exc.code, exc.message, run.ref, details=exc.details())
    except Exception as exc:
        # The store unavailable for now (disk full, a lock or statement timeout, a
        # lost connection, no answer in time): answer this command with the
        # retryable code and keep the connection, so clients back off instead of
        # reconnecting in a loop.
        fault = storage_fault(exc)
        if fault is None and isinstance(exc, TimeoutError) and limit.expired():
            fault = StorageUnavailable()
        if fault is None:
            log.exception("command %s failed", type(command).__name__)
            return protocol.internal_error(run.ref)
        log.warning("command %s: storage unavailable (%s)", type(command).__name__, exc)
        frame = error_frame(fault.code, fault.message, run.ref, details=fault.details())
    else:
        if frame is None:
            return []
        if run.ref is not None:
            frame["ref"] = run.ref
    return [Reply(frame)]


async def run_command(ctx: AppContext, command: object, actor: Principal,
                      channel_ids: Collection[int]) -> JSON | None:
    """The command's action; its answer frame (without ``ref``), or None for none."""
    if isinstance(command, SendMessage):
        started = ctx.clock.monotonic()
        outcome = await message_actions.send_message(
            ctx, actor=actor, channel_id=command.channel_id,
            client_id=command.client_id, body=command.body, reply_to=command.reply_to,
            mentions=command.mentions, attachment_id=command.attachment_id)
        ctx.metrics.send_latency.observe(ctx.clock.monotonic() - started)
        return {"type": "ack", "client_id": command.client_id,
                "message": outcome.message, "duplicate": outcome.duplicate}
    if isinstance(command, EditMessage):
        message = await message_edits.edit_message(
            ctx, actor=actor, message_id=command.message_id, body=command.body)
        return {"type": "ok", "message": message}
    if isinstance(command, DeleteMessage):
        message = await message_edits.delete_message(
            ctx, actor=actor, message_id=command.message_id)
        return {"type": "ok", "message": message}
    if isinstance(command, Resync):
        return await message_reads.resync(
            ctx, actor=actor, channel_id=command.channel_id, after_seq=command.after_seq,
            after_version=command.after_version, limit=command.limit)
    if isinstance(command, MarkRead):
        await read_actions.mark_read(ctx, actor=actor, channel_id=command.channel_id,
                                     seq=command.seq)
        return {"type": "read.ok", "channel_id": command.channel_id, "seq": command.seq}
    if isinstance(command, React):
        message = await reaction_actions.set_reaction(
            ctx, actor=actor, message_id=command.message_id, emoji=command.emoji,
            on=command.on)
        return {"type": "ok", "message": message}
    if isinstance(command, Pin):
        message = await reaction_actions.set_pin(
            ctx, actor=actor, message_id=command.message_id, pinned=command.pinned)
        return {"type": "ok", "message": message}
    if isinstance(command, Confirm):
        message, count = await reaction_actions.confirm(
            ctx, actor=actor, message_id=command.message_id)
        return {"type": "ok", "message": message, "confirmed_count": count}
    if isinstance(command, Typing):
        # Ephemeral and unstored: the hub's view of this connection's channels is
        # enough to authorise it without a database round trip.
        if command.channel_id not in channel_ids:
            raise NotAMember()
        await ctx.bus.publish(channel_topic(command.channel_id), encode(
            {"type": "typing", "channel_id": command.channel_id,
             "user_id": actor.user_id}))
        return None
    raise AssertionError(f"unhandled command {command!r}")
