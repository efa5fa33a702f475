"""Field reports (被害報告): staff post what they see to the disaster HQ, and the HQ
follows each up on its board (新規 → 確認済 → 対応中 → 完了).

A report is a message of kind ``report`` in the HQ channel (災害対策本部) of the active
disaster, with a ``field_reports`` row. Field staff are not members of the HQ channel and
do not become members by reporting: the report is written here as the HQ's inbox, by any
active member of staff, without the membership check a chat message has (the reporter
sees their own report on their phone's outbox, not in the HQ's conversation). Like a
message it is stored once per ``(reporter, client_id)``: a resend after a lost answer
returns the stored report. Photos are uploaded first (``upload_report_photo``: resized
and stripped as chat photos are, their place never kept) and named by id in the report.

Positions are only what the person attached by tapping 「位置を添付」; the card on the
wire says ``has_position`` only, and the HQ board reads positions through
:func:`report_positions`, which audits who read which (``reports.positions_viewed``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from chat.actions.attachments import PhotoBytes, photo_row, processed_photo
from chat.actions.card_entries import card_entry, optional_text, text_field
from chat.actions.card_messages import post_card_message
from chat.actions.disaster import hq_channel
from chat.actions.message_reads import audit_privileged_read
from chat.actions.messages import MAX_CLIENT_ID_CHARS
from chat.actions.notices import revise_notice
from chat.actions.push import NewMessagePush, push_new_messages
from chat.actions.wire import wire_message
from chat.audit.record import audit_or_fail, audit_within
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.cards.report import (
    MAX_PHOTOS,
    FieldReport,
    Position,
    ReportRuleError,
    ReportStatus,
    StatusChange,
    clean_note,
    parse_category,
    parse_position,
    parse_severity,
    parse_status,
)
from chat.domain.dates import parse_moment, wire_time
from chat.domain.images import ACCEPTED_TYPES
from chat.domain.kinds import MessageKind
from chat.domain.notices import Person
from chat.domain.roles import Role
from chat.errors import (
    AttachmentNotFound,
    BadRequest,
    ClientIdReused,
    HqOnly,
    NoActiveDisaster,
    ReportNotFound,
    UnsupportedMediaType,
)
from chat.frames import message_json
from chat.store import models
from chat.store.models import Message
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

# A report's time taken may be a little ahead of the server's clock (a phone's clock).
MAX_CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class ReportIn:
    """A report as the phone sends it (``POST /api/cards/report``)."""

    client_id: str
    category: object
    severity: object
    note: str
    position: object
    taken_at: str | None
    photo_ids: Sequence[int] = ()


def _photo_ids(body: Mapping[str, object]) -> list[int]:
    value = body.get("photo_ids", [])
    if not isinstance(value, list) or any(
            not isinstance(i, int) or isinstance(i, bool) for i in value):
        raise BadRequest("photo_ids must be a list of upload ids")
    if len(value) > MAX_PHOTOS or len(set(value)) != len(value):
        raise BadRequest(f"A report has at most {MAX_PHOTOS} different photos")
    return list(value)


@card_entry(MessageKind.REPORT)
async def post_report_card(ctx: AppContext, actor: Principal,
                           body: Mapping[str, object]) -> JSON:
    """A report as the phone's form (or its outbox, later) sends it."""
    return await file_report(ctx, actor=actor, report=ReportIn(
        client_id=text_field(body, "client_id"), category=body.get("category"),
        severity=body.get("severity"), note=text_field(body, "note"),
        position=body.get("position"), taken_at=optional_text(body, "taken_at"),
        photo_ids=_photo_ids(body)))


def _taken_at(value: str | None, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        taken = parse_moment(value, name="taken_at")
    except ValueError as error:
        raise BadRequest(str(error)) from None
    if (taken - now).total_seconds() > MAX_CLOCK_SKEW_SECONDS:
        raise BadRequest("taken_at is in the future")
    return taken


async def file_report(ctx: AppContext, *, actor: Principal, report: ReportIn) -> JSON:
    """Post a field report to the HQ of the active disaster; returns the message.
    A resend with the same ``client_id`` returns the stored one. Raises
    NoActiveDisaster, BadRequest (a field, naming it), AttachmentNotFound (a photo that
    is not an unsent report photo of the actor's), ClientIdReused."""
    if not report.client_id or len(report.client_id) > MAX_CLIENT_ID_CHARS:
        raise BadRequest(f"client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters")
    try:
        category, severity = parse_category(report.category), parse_severity(report.severity)
        note, position = clean_note(report.note), parse_position(report.position)
    except ReportRuleError as error:
        raise BadRequest(str(error)) from None
    now = ctx.clock.now()
    taken_at = _taken_at(report.taken_at, now)
    try:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            stored = await _stored_report(uow, actor, report.client_id)
            if stored is not None:
                return stored
            disaster = await uow.disasters.active()
            if disaster is None:
                raise NoActiveDisaster("No disaster or drill is declared: reports go to "
                                       "the HQ of an active one")
            hq = await hq_channel(ctx, uow, now)
            reporter = await uow.users.get(actor.user_id)
            fields = FieldReport(category, severity, note, position, taken_at,
                                 Person(actor.user_id, reporter.name if reporter else actor.name),
                                 disaster.drill, tuple(report.photo_ids))
            message = await _post(ctx, uow, actor, hq.id, report.client_id, fields, now)
            await _claim_photos(uow, actor, hq.id, report.photo_ids)
            uow.field_reports.add(_row(message.id, disaster.id, actor.user_id, fields, now),
                                  report.photo_ids)
            audit_within(ctx, uow, AuditAction.REPORT_FILED, actor_user_id=actor.user_id,
                         session_id=actor.session_id, message_id=message.id,
                         disaster_id=disaster.id, drill=disaster.drill,
                         category=category.value, severity=int(severity),
                         photos=len(report.photo_ids), has_position=position is not None)
            await push_new_messages(ctx, uow, [NewMessagePush(
                channel_id=hq.id, channel_kind=hq.kind, channel_name=hq.name,
                message_id=message.id, sender_id=actor.user_id, sender_name=actor.name,
                body=message.body, kind=MessageKind.REPORT, mentioned=())])
            return message_json(message)
    except IntegrityError:
        # The same report sent twice at once (two tabs, two nodes): the first one won.
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            stored = await _stored_report(uow, actor, report.client_id)
            if stored is None:
                raise
            return stored


async def _stored_report(uow: UnitOfWork, actor: Principal, client_id: str) -> JSON | None:
    existing = await uow.messages.by_client_id(actor.user_id, client_id)
    if existing is None:
        return None
    if existing.kind != MessageKind.REPORT.value:
        raise ClientIdReused()
    return await wire_message(uow, existing)


async def _post(ctx: AppContext, uow: UnitOfWork, actor: Principal, channel_id: int,
                client_id: str, fields: FieldReport, now: datetime) -> Message:
    """The report's message, written as a person's message is (seq, revision 1,
    ``message.created`` with the text's digest), and its frame after commit."""
    return await post_card_message(
        ctx, uow, channel_id=channel_id, kind=MessageKind.REPORT, body=fields.body(),
        card=fields.card(StatusChange(ReportStatus.NEW)), now=now, sender_id=actor.user_id,
        client_id=client_id, actor_user_id=actor.user_id, session_id=actor.session_id)


def _row(message_id: int, disaster_id: int, reporter_id: int, fields: FieldReport,
         now: datetime) -> models.FieldReport:
    where: Position | None = fields.position
    return models.FieldReport(
        message_id=message_id, disaster_id=disaster_id, reporter_id=reporter_id,
        category=fields.category.value, severity=int(fields.severity), note=fields.note,
        latitude_e6=round(where.lat * 1e6) if where else None,
        longitude_e6=round(where.lon * 1e6) if where else None,
        accuracy_m=where.accuracy_m if where else None, taken_at=fields.taken_at,
        created_at=now, status=ReportStatus.NEW.value)


async def _claim_photos(uow: UnitOfWork, actor: Principal, hq_id: int,
                        photo_ids: Sequence[int]) -> None:
    """Each photo must be the actor's unsent upload to the HQ (upload_report_photo)."""
    for attachment_id in photo_ids:
        attachment = await uow.attachments.get(attachment_id, for_update=True)
        if attachment is None or attachment.uploader_id != actor.user_id \
                or attachment.channel_id != hq_id or attachment.message_id is not None \
                or await uow.field_reports.photo(attachment_id) is not None:
            raise AttachmentNotFound(f"Photo {attachment_id} is not an unsent report "
                                     "photo of yours")


async def upload_report_photo(ctx: AppContext, *, actor: Principal, data: bytes,
                              content_type: str) -> JSON:
    """Store a photo for a report to the active disaster's HQ (any member of staff):
    re-encoded without metadata; its place is never kept (the report's position is
    what the person attached). Raises UnsupportedMediaType, InvalidImage,
    NoActiveDisaster."""
    if content_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaType()
    photo = await processed_photo(data, keep_location=False)
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        if await uow.disasters.active() is None:
            raise NoActiveDisaster()
        hq = await hq_channel(ctx, uow, ctx.clock.now())
        attachment = photo_row(ctx, photo, channel_id=hq.id, uploader_id=actor.user_id,
                               location=None)
        uow.attachments.add(attachment)
        await uow.flush()
        return {"id": attachment.id, "width": attachment.width,
                "height": attachment.height, "bytes": attachment.size}


# --- the HQ board ------------------------------------------------------------------------

async def _board_reader(uow: UnitOfWork, ctx: AppContext, actor: Principal
                        ) -> models.Disaster:
    """The disaster whose board ``actor`` may read: the active one, or else the latest
    (its records stay). Members of the HQ channel and admins. Raises HqOnly,
    NoActiveDisaster."""
    disaster = await uow.disasters.active() or next(
        iter(await uow.disasters.recent(limit=1)), None)
    if disaster is None or disaster.hq_channel_id is None:
        raise NoActiveDisaster()
    if actor.role != Role.ADMIN.value and actor.user_id not in await uow.channels.member_ids(
            disaster.hq_channel_id):
        raise HqOnly()
    return disaster


def _entry(message: Message) -> JSON:
    card = json.loads(message.data or "{}")
    return {"message_id": message.id, "channel_id": message.channel_id,
            "created_at": wire_time(message.created_at), **card}


async def report_board(ctx: AppContext, *, actor: Principal, category: str | None = None,
                       severity: int | None = None, status: str | None = None,
                       before: int | None = None) -> JSON:
    """The HQ board: the disaster's reports, newest first, filtered (no positions:
    :func:`report_positions`). Raises HqOnly, NoActiveDisaster, BadRequest."""
    try:
        category = parse_category(category).value if category else None
        severity = int(parse_severity(severity)) if severity is not None else None
        status = parse_status(status).value if status else None
    except ReportRuleError as error:
        raise BadRequest(str(error)) from None
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        disaster = await _board_reader(uow, ctx, actor)
        rows = await uow.field_reports.board(disaster.id, category=category,
                                             severity=severity, status=status, before=before)
    reports = [_entry(message) for _, message in rows]
    # An admin outside the HQ channel reads the board by role: audited.
    await audit_privileged_read(ctx, actor, "report_board", [
        {"id": r["message_id"], "channel_id": r["channel_id"]} for r in reports])
    return {"disaster": {"id": disaster.id, "name": disaster.name,
                         "drill": disaster.drill, "active": disaster.ended_at is None,
                         "hq_channel_id": disaster.hq_channel_id},
            "reports": reports}


async def report_positions(ctx: AppContext, *, actor: Principal,
                           message_ids: Sequence[int]) -> JSON:
    """The positions of these reports (those that have one), for the HQ map; the read
    is audited before it is answered. Raises HqOnly, NoActiveDisaster."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        disaster = await _board_reader(uow, ctx, actor)
        rows = [r for r in await uow.field_reports.of_messages(list(message_ids)[:500])
                if r.disaster_id == disaster.id and r.latitude_e6 is not None
                and r.longitude_e6 is not None]
    positions = [{"message_id": r.message_id, "lat": (r.latitude_e6 or 0) / 1e6,
                  "lon": (r.longitude_e6 or 0) / 1e6, "accuracy_m": r.accuracy_m}
                 for r in rows]
    if positions:
        await audit_or_fail(ctx, AuditAction.REPORTS_POSITIONS_VIEWED,
                            actor_user_id=actor.user_id, session_id=actor.session_id,
                            disaster_id=disaster.id, drill=disaster.drill,
                            message_ids=sorted(r.message_id for r in rows))
    return {"positions": positions}


async def set_report_status(ctx: AppContext, *, actor: Principal, message_id: int,
                            status: str) -> JSON:
    """Change a report's status (HQ members and admins); the card is revised for every
    HQ member (``message.updated``) and the change audited. Setting the status it has
    returns the report unchanged. Raises ReportNotFound, HqOnly, BadRequest."""
    message = await _set_status(ctx, actor=actor, message_id=message_id, status=status)
    await audit_privileged_read(ctx, actor, "report_status", [message])
    return message


async def _set_status(ctx: AppContext, *, actor: Principal, message_id: int,
                      status: str) -> JSON:
    try:
        wanted = parse_status(status)
    except ReportRuleError as error:
        raise BadRequest(str(error)) from None
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        message = await uow.messages.get(message_id, for_update=True)
        report = await uow.field_reports.get(message_id, for_update=True)
        if message is None or report is None or message.deleted_at or message.purged_at:
            raise ReportNotFound()
        if actor.role != Role.ADMIN.value and actor.user_id not in \
                await uow.channels.member_ids(message.channel_id):
            raise HqOnly()
        before = report.status
        if not await uow.field_reports.set_status(message_id, wanted.value,
                                                  by=actor.user_id, at=now):
            return await wire_message(uow, message)
        changer = await uow.users.get(actor.user_id)
        card = json.loads(message.data or "{}")
        card.update(StatusChange(wanted, Person(actor.user_id, changer.name if changer
                                                else actor.name), now).card())
        await revise_notice(ctx, uow, message, card=card, now=now)
        audit_within(ctx, uow, AuditAction.REPORT_STATUS_CHANGED, actor_user_id=actor.user_id,
                     session_id=actor.session_id, message_id=message_id,
                     disaster_id=report.disaster_id,
                     drill=bool(card.get("drill")),
                     before=before, after=wanted.value)
        return await wire_message(uow, message)


async def report_photo_bytes(ctx: AppContext, *, actor: Principal, attachment_id: int,
                             thumb: bool) -> PhotoBytes:
    """A report's photo for the HQ (its members and admins) or its reporter."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        found = await uow.field_reports.photo(attachment_id)
        if found is None:
            raise AttachmentNotFound()
        attachment, message = found
        if message.deleted_at or message.purged_at:
            raise AttachmentNotFound()
        if attachment.uploader_id != actor.user_id and actor.role != Role.ADMIN.value \
                and actor.user_id not in await uow.channels.member_ids(message.channel_id):
            raise AttachmentNotFound()
        content = await uow.attachments.content(attachment.id, thumb=thumb)
        content_type = attachment.thumb_content_type if thumb else attachment.content_type
    if content is None:
        raise AttachmentNotFound()
    await audit_privileged_read(ctx, actor, "report_photo",
                                [{"id": message.id, "channel_id": message.channel_id}])
    return PhotoBytes(content, content_type)
