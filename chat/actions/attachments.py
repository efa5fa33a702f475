"""Photos: upload (re-encoded without metadata, off the event loop) and serving them to
the channel's members."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chat.actions.message_reads import audit_privileged_read
from chat.actions.messages import member_channel
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.images import (
    ACCEPTED_TYPES,
    ImageRejected,
    Location,
    ProcessedPhoto,
    process_photo,
)
from chat.domain.roles import may_post
from chat.errors import AttachmentNotFound, InvalidImage, ReadOnlyChannel, UnsupportedMediaType
from chat.frames import attachment_json
from chat.store.models import Attachment
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON


@dataclass(frozen=True)
class PhotoBytes:
    content: bytes
    content_type: str


async def upload_photo(ctx: AppContext, *, actor: Principal, channel_id: int, data: bytes,
                       content_type: str, share_location: bool,
                       device_location: Location | None = None) -> JSON:
    """Store a photo for the actor to send in ``channel_id`` (``send`` with its id).

    The image is decoded, oriented, resized and re-encoded without any metadata; its
    place is kept (in the database) only with ``share_location``: from the EXIF GPS
    tags, or else ``device_location`` (where the phone was). Raises
    UnsupportedMediaType, InvalidImage, ChannelNotFound, NotAMember, ReadOnlyChannel."""
    if content_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaType()
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        channel = await member_channel(uow, channel_id, actor.user_id)
    if not may_post(actor.role, channel.kind):
        raise ReadOnlyChannel()
    photo = await processed_photo(data, keep_location=share_location)
    location = (photo.location or device_location) if share_location else None
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await member_channel(uow, channel_id, actor.user_id)
        attachment = photo_row(ctx, photo, channel_id=channel_id, uploader_id=actor.user_id,
                               location=location)
        uow.attachments.add(attachment)
        await uow.flush()
        return attachment_json(attachment)


async def processed_photo(data: bytes, *, keep_location: bool) -> ProcessedPhoto:
    """The upload decoded, oriented, resized and re-encoded without metadata, in a
    worker thread (CPU-bound); raises InvalidImage."""
    try:
        return await asyncio.to_thread(process_photo, data, keep_location=keep_location)
    except ImageRejected as exc:
        raise InvalidImage(f"The image was refused: {exc}") from None


def photo_row(ctx: AppContext, photo: ProcessedPhoto, *, channel_id: int, uploader_id: int,
              location: Location | None) -> Attachment:
    """The ``attachments`` row of a processed photo, not yet sent (``message_id``
    NULL); the caller adds it."""
    return Attachment(
        channel_id=channel_id, uploader_id=uploader_id, message_id=None,
        content_type=photo.image.content_type, width=photo.image.width,
        height=photo.image.height, size=len(photo.image.data), sha256=photo.image.sha256,
        thumb_content_type=photo.thumb.content_type, thumb_width=photo.thumb.width,
        thumb_height=photo.thumb.height,
        latitude_e6=round(location.lat * 1e6) if location else None,
        longitude_e6=round(location.lon * 1e6) if location else None,
        created_at=ctx.clock.now(), data=photo.image.data, thumb=photo.thumb.data)


async def photo_bytes(ctx: AppContext, *, actor: Principal, attachment_id: int,
                      thumb: bool) -> PhotoBytes:
    """The image (or its thumbnail) for a member of its channel. Before it is sent only
    its uploader sees it; once its message is deleted or purged nobody does."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        attachment = await uow.attachments.get(attachment_id)
        if attachment is None:
            raise AttachmentNotFound()
        await member_channel(uow, attachment.channel_id, actor.user_id)
        message = (await uow.messages.get(attachment.message_id)
                   if attachment.message_id is not None else None)
        if message is None and attachment.uploader_id != actor.user_id:
            raise AttachmentNotFound()
        if message is not None and (message.deleted_at or message.purged_at):
            raise AttachmentNotFound()
        content = await uow.attachments.content(attachment.id, thumb=thumb)
        content_type = attachment.thumb_content_type if thumb else attachment.content_type
    if content is None:
        raise AttachmentNotFound()
    if message is not None:
        await audit_privileged_read(ctx, actor, "attachment",
                                    [{"id": message.id, "channel_id": message.channel_id}])
    return PhotoBytes(content, content_type)
