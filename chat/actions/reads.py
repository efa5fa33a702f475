"""Read receipts (既読)."""

from __future__ import annotations

from chat.actions.messages import member_channel
from chat.auth.sessions import Principal
from chat.bus.topics import channel_topic
from chat.context import AppContext
from chat.errors import SeqOutOfRange
from chat.frames import encode
from chat.store.uow import TxMode, unit_of_work


async def mark_read(ctx: AppContext, *, actor: Principal, channel_id: int, seq: int) -> bool:
    """Move the actor's read position to ``seq`` (never backwards). Members see a
    ``read`` frame only when the position actually moved. Returns whether it moved."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        channel = await member_channel(uow, channel_id, actor.user_id)
        if seq < 0 or seq > channel.last_seq:
            raise SeqOutOfRange(f"seq must be between 0 and {channel.last_seq}")
        moved = await uow.channels.advance_read(channel_id, actor.user_id, seq)
        if moved:
            frame = encode({"type": "read", "channel_id": channel_id,
                            "user_id": actor.user_id, "seq": seq})
            uow.on_commit(lambda: ctx.bus.publish(channel_topic(channel_id), frame))
    return moved
