"""Phone memos (伝言メモ): an operator takes a message for someone who is away, and it
arrives in their 「電話」 channel (or a desk group's channel) as a structured notice with
the same claim-and-done flow as a missed call. It replaces the paper slip on the desk."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chat.actions.card_entries import card_entry, optional_int, optional_text, text_field
from chat.actions.missed_calls import notice_target
from chat.actions.notices import phone_channel, post_notice
from chat.actions.wire import wire_message
from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.cards.memo import Memo, MemoAction
from chat.domain.kinds import MessageKind
from chat.domain.notices import Caller, FollowUp, Person
from chat.domain.numbers import InvalidNumber, normalise
from chat.domain.roles import Role
from chat.errors import BadRequest, OperatorOnly, UserNotFound
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON

MEMO_TAKERS = frozenset({Role.OPERATOR, Role.ADMIN})
MAX_MEMO_CHARS = 1000


@dataclass(frozen=True)
class MemoIn:
    """What the operator wrote down. Exactly one of ``for_user_id`` and ``extension``
    says for whom (an extension may be a desk-group phone)."""

    caller_name: str
    company: str
    number: str
    action: str
    text: str
    for_user_id: int | None = None
    extension: str | None = None


def _short(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit:
        raise BadRequest(f"{field} is longer than {limit} characters")
    return value


@card_entry(MessageKind.MEMO)
async def post_memo_card(ctx: AppContext, actor: Principal, body: Mapping[str, object]) -> JSON:
    """A memo as the phone's form sends it (``POST /api/cards/memo``, ``/api/memos``)."""
    return await record_memo(ctx, actor=actor, memo=MemoIn(
        caller_name=text_field(body, "caller_name"), company=text_field(body, "company"),
        number=text_field(body, "number"), action=text_field(body, "action"),
        text=text_field(body, "text"), for_user_id=optional_int(body, "for_user_id"),
        extension=optional_text(body, "extension")))


async def record_memo(ctx: AppContext, *, actor: Principal, memo: MemoIn) -> JSON:
    """Post a memo notice; returns the message. Raises OperatorOnly (the actor's role),
    UserNotFound (nobody behind the person or extension), BadRequest."""
    if actor.role not in MEMO_TAKERS:
        raise OperatorOnly()
    country = ctx.settings.pbx_country_code
    try:
        action = MemoAction(memo.action)
    except ValueError:
        raise BadRequest("action must be call_back, will_call_again or message") from None
    caller_name = _short(memo.caller_name, "caller_name", 100)
    company = _short(memo.company, "company", 100)
    text = _short(memo.text, "text", MAX_MEMO_CHARS)
    try:
        number = normalise(memo.number, country_code=country)
    except InvalidNumber as exc:
        raise BadRequest(f"number: {exc}") from None
    if not (caller_name or company or number):
        raise BadRequest("A memo needs the caller's name, company or number")
    if (memo.for_user_id is None) == (memo.extension is None):
        raise BadRequest("Give exactly one of for_user_id and extension")
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        subject: int | None = None
        if memo.for_user_id is not None:
            user = await uow.users.get(memo.for_user_id)
            if user is None or not user.is_active:
                raise UserNotFound()
            channel_id, for_name, subject = (
                (await phone_channel(ctx, uow, user, now)).id, user.name, user.id)
        else:
            try:
                ext = normalise(memo.extension, country_code=country)
            except InvalidNumber as exc:
                raise BadRequest(f"extension: {exc}") from None
            target = await notice_target(ctx, uow, ext.value, now) if ext else None
            if target is None:
                raise UserNotFound("Nobody has that extension")
            channel_id, for_name = target.channel_id, target.name
        operator = await uow.users.get(actor.user_id)
        taker = Person(actor.user_id, operator.name if operator else actor.name)
        note = Memo(Caller(number, caller_name or None), company or None, action, text,
                    for_name, taker, now)
        message, _ = await post_notice(
            ctx, uow, channel_id=channel_id, kind=MessageKind.MEMO,
            body=note.body(country), card=note.card(country, FollowUp()), now=now,
            caller_number=number.value if number else None, target_key=None,
            actor_user_id=actor.user_id)
        audit_within(ctx, uow, AuditAction.MEMO_CREATED, actor_user_id=actor.user_id,
                     session_id=actor.session_id, subject_user_id=subject,
                     message_id=message.id, channel_id=channel_id)
        return await wire_message(uow, message)
