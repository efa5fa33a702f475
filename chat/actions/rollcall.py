"""Safety roll calls (安否確認): HQ starts one, everyone answers with one tap, HQ watches
the tally by department live, reminds those who have not answered, and exports the
result.

Starting, in one transaction: the ``roll_calls`` row, its card (kind ``rollcall``,
posted by the system into the all-staff channel, an announcement channel people cannot
post in), ``rollcall.started`` in the audit log, then after commit the card on every
phone and a Web Push to everyone. A drill's roll call (started while a drill is
declared) says 【訓練】 on its card, push, tally and CSV.

Answering stores one row per person and roll call (the unique index makes a retry or a
second tap store once; answering again replaces the answer, and each change is
audited, so the history stays). Answers arriving together share one transaction
(chat.groupcommit, as sends do): one commit and one audit-head lock for a burst. After
commit the node's throttle (chat.throttle)
publishes the tally to the HQ channel's members as ``rollcall.tally``: at once for the
first answer, then at most every ``TALLY_INTERVAL_SECONDS`` (0.25 s), each reading
everything committed before it ran, so 700 answers in ten seconds make about forty
tallies rather than 700.

Who runs roll calls: members of the HQ channel (災害対策本部) and the crisis and admin
roles; the CLI (an operator at the server) may too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from chat.actions.card_messages import post_card_message
from chat.actions.orgchart import ALL_STAFF_SLUG
from chat.actions.push import push_to_people
from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import channel_topic
from chat.context import AppContext
from chat.domain import rollcall as rules
from chat.domain.audit_actions import AuditAction
from chat.domain.cards import rollcall as rollcall_card
from chat.domain.disaster import HQ_CHANNEL_SLUG
from chat.domain.export import UTF8_BOM, csv_text
from chat.domain.kinds import MessageKind
from chat.domain.push import NOTICE_TTL_SECONDS, PushNote, shorten
from chat.errors import BadRequest, ChatError, HqOnly, RollCallEnded, RollCallNotFound
from chat.frames import encode
from chat.groupcommit import GroupCommit
from chat.store.models import Message, RollCall, RollCallAnswer
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.throttle import Throttle
from chat.types import JSON

#: How often at most HQ gets a roll call's tally while answers arrive, per node.
TALLY_INTERVAL_SECONDS = 0.25
_TALLY_THROTTLE = "rollcall.tally"
_ANSWER_QUEUE = "rollcall.answers"
MAX_ANSWER_BATCH = 256


# --- who and what -----------------------------------------------------------------------

async def _may_run(uow: UnitOfWork, *, user_id: int | None, role: str | None) -> bool:
    """``role`` None: an operator at the server (the CLI), who may."""
    if role is None or rules.may_run(role):
        return True
    hq = await uow.channels.by_slug(HQ_CHANNEL_SLUG)
    return hq is not None and user_id is not None \
        and await uow.channels.membership(hq.id, user_id) is not None


async def _check_hq(uow: UnitOfWork, actor: Principal | None) -> None:
    if actor is not None and not await _may_run(uow, user_id=actor.user_id,
                                                role=actor.role):
        raise HqOnly()


async def _roll_call(uow: UnitOfWork, rollcall_id: int | None) -> RollCall:
    """The roll call, or the latest one for ``None``. Raises RollCallNotFound."""
    row = await (uow.rollcalls.latest() if rollcall_id is None
                 else uow.rollcalls.get(rollcall_id))
    if row is None:
        raise RollCallNotFound()
    return row


async def _info(uow: UnitOfWork, row: RollCall) -> rules.RollCallInfo:
    channel = await uow.channels.by_slug(ALL_STAFF_SLUG)
    return rules.RollCallInfo(
        id=row.id, text=row.text, drill=row.drill, deadline=row.deadline,
        started_at=row.started_at, started_by=row.started_by, ended_at=row.ended_at,
        message_id=row.message_id, channel_id=channel.id if channel else None)


def _answer_of(row: RollCallAnswer) -> rules.Answer:
    position = None if row.latitude_e6 is None or row.longitude_e6 is None else \
        rules.Position(row.latitude_e6, row.longitude_e6, row.accuracy_m)
    return rules.Answer(user_id=row.user_id, status=rules.RollCallStatus(row.status),
                        note=row.note, position=position, answered_at=row.answered_at)


async def _people(uow: UnitOfWork) -> list[rules.Person]:
    return rules.place_people(await uow.rollcalls.people(),
                              await uow.rollcalls.departments())


async def _answers(uow: UnitOfWork, rollcall_id: int) -> dict[int, rules.Answer]:
    return {user_id: rules.Answer(
                user_id=user_id, status=rules.RollCallStatus(status), note=note,
                position=None if lat is None or lon is None else rules.Position(lat, lon, acc),
                answered_at=at)
            for user_id, status, note, lat, lon, acc, at
            in await uow.rollcalls.answer_rows(rollcall_id)}


def _refusal(error: rules.RollCallRuleError) -> BadRequest:
    return BadRequest(str(error))


# --- starting ---------------------------------------------------------------------------

async def start_rollcall(ctx: AppContext, *, text: str, deadline_minutes: object = None,
                         by: str, actor: Principal | None = None) -> JSON:
    """Start a roll call: its card in the all-staff channel and a push to everyone.
    Raises HqOnly, BadRequest (a bad text or deadline; no all-staff channel yet)."""
    try:
        cleaned = rules.clean_text(text)
        minutes = rules.check_deadline_minutes(deadline_minutes)
    except rules.RollCallRuleError as error:
        raise _refusal(error) from None
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await _check_hq(uow, actor)
        channel = await uow.channels.by_slug(ALL_STAFF_SLUG)
        if channel is None:
            raise BadRequest("there is no all-staff channel yet: import the org chart first")
        disaster = await uow.disasters.active()
        row = RollCall(disaster_id=disaster.id if disaster else None, text=cleaned,
                       deadline=now + timedelta(minutes=minutes) if minutes else None,
                       drill=bool(disaster and disaster.drill), started_by=by,
                       started_by_user_id=actor.user_id if actor else None, started_at=now)
        uow.rollcalls.add(row)
        await uow.flush()
        info = await _info(uow, row)
        message = await _post_card(ctx, uow, channel_id=channel.id, info=info, now=now,
                                   actor_user_id=actor.user_id if actor else None)
        row.message_id = message.id
        people = len(await uow.users.active_ids())
        audit_within(ctx, uow, AuditAction.ROLLCALL_STARTED,
                     actor_user_id=actor.user_id if actor else None, by=by,
                     rollcall_id=row.id, disaster_id=row.disaster_id, drill=row.drill,
                     message_id=message.id, deadline=info.wire()["deadline"], people=people)
        push_to_people(ctx, uow, _push_note(info, message.id, channel.id), user_ids=None)
        result = (await _info(uow, row)).wire()
    return result


async def _post_card(ctx: AppContext, uow: UnitOfWork, *, channel_id: int,
                     info: rules.RollCallInfo, now: datetime,
                     actor_user_id: int | None) -> Message:
    """The card as a system message (``sender_id`` null), written like any message (seq,
    revision 1, ``message.created`` with the body's digest) so ``audit verify`` covers
    it; the frame goes to the channel after commit."""
    return await post_card_message(
        ctx, uow, channel_id=channel_id, kind=MessageKind.ROLLCALL,
        body=rollcall_card.body(info), card=rollcall_card.card(info), now=now,
        actor_user_id=actor_user_id)


def _push_note(info: rules.RollCallInfo, message_id: int, channel_id: int, *,
               reminder: bool = False) -> PushNote:
    heading = rules.title(drill=info.drill) + ("（再通知）" if reminder else "")
    return PushNote(kind=MessageKind.ROLLCALL.value, title=heading,
                    body=shorten(f"{info.text} 回答してください。"), channel_id=channel_id,
                    message_id=message_id, urgency="high", ttl=NOTICE_TTL_SECONDS)


# --- answering --------------------------------------------------------------------------

@dataclass(frozen=True)
class _AnswerRequest:
    user_id: int
    rollcall_id: int
    status: rules.RollCallStatus
    note: str
    position: rules.Position | None
    at: datetime

    def fields(self) -> tuple[str, str, int | None, int | None, int | None]:
        where = self.position
        return (self.status.value, self.note, where.latitude_e6 if where else None,
                where.longitude_e6 if where else None, where.accuracy_m if where else None)


async def answer_rollcall(ctx: AppContext, *, actor: Principal, rollcall_id: int,
                          status: object, note: object = None,
                          position: object = None) -> JSON:
    """Store the actor's answer (replacing an earlier one). The same answer sent again
    changes nothing. Answers arriving together share one transaction (group commit:
    everyone answering at once is what a roll call is). Raises RollCallNotFound,
    RollCallEnded, BadRequest."""
    try:
        request = _AnswerRequest(user_id=actor.user_id, rollcall_id=rollcall_id,
                                 status=rules.parse_status(status),
                                 note=rules.clean_note(note),
                                 position=rules.parse_position(position),
                                 at=ctx.clock.now())
    except rules.RollCallRuleError as error:
        raise _refusal(error) from None
    return await _answer_queue(ctx).submit(request)


def _answer_queue(ctx: AppContext) -> GroupCommit[_AnswerRequest, JSON]:
    queue = ctx.group_commits.get(_ANSWER_QUEUE)
    if queue is None:
        queue = ctx.group_commits[_ANSWER_QUEUE] = GroupCommit(
            partial(_store_answers, ctx), max_batch=MAX_ANSWER_BATCH)
    return queue


async def _store_answers(ctx: AppContext, requests: Sequence[_AnswerRequest]
                         ) -> list[JSON | Exception]:
    """One transaction for a batch of answers, each answered on its own (a refusal in
    its slot); the tallies of the roll calls they touched are asked for after commit."""
    results: list[JSON | Exception] = []
    touched: set[int] = set()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        for request in requests:
            try:
                result, changed = await _store_answer(ctx, uow, request)
            except ChatError as refusal:
                results.append(refusal)
                continue
            results.append(result)
            if changed:
                touched.add(request.rollcall_id)

        async def tally_soon() -> None:
            for rollcall_id in sorted(touched):
                _tally_throttle(ctx).request(rollcall_id)
        if touched:
            uow.on_commit(tally_soon)
    return results


async def _store_answer(ctx: AppContext, uow: UnitOfWork, request: _AnswerRequest
                        ) -> tuple[JSON, bool]:
    row = await _roll_call(uow, request.rollcall_id)
    if row.ended_at is not None:
        raise RollCallEnded()
    wanted = request.fields()
    answer = await uow.rollcalls.answer_of(request.rollcall_id, request.user_id)
    if answer is not None and _fields(answer) == wanted:
        return _answer_of(answer).wire(), False
    fresh = None
    if answer is None:
        fresh = await uow.rollcalls.insert_answer(RollCallAnswer(
            roll_call_id=request.rollcall_id, user_id=request.user_id,
            status=request.status.value, note=request.note, latitude_e6=wanted[2],
            longitude_e6=wanted[3], accuracy_m=wanted[4], answered_at=request.at))
        # None: another request of theirs stored one first; replace that one.
        answer = fresh or await uow.rollcalls.answer_of(request.rollcall_id,
                                                        request.user_id)
        assert answer is not None
    previous = None if fresh is not None else answer.status
    if fresh is None:
        (answer.status, answer.note, answer.latitude_e6, answer.longitude_e6,
         answer.accuracy_m) = wanted
        answer.answered_at = request.at
    audit_within(ctx, uow, AuditAction.ROLLCALL_ANSWERED, actor_user_id=request.user_id,
                 rollcall_id=request.rollcall_id, status=request.status.value,
                 previous=previous, has_note=bool(request.note),
                 has_position=request.position is not None, drill=row.drill)
    return _answer_of(answer).wire(), True


def _fields(answer: RollCallAnswer) -> tuple[object, ...]:
    return (answer.status, answer.note, answer.latitude_e6, answer.longitude_e6,
            answer.accuracy_m)


async def my_rollcall(ctx: AppContext, *, actor: Principal, rollcall_id: int) -> JSON:
    """What the card on a phone shows: the roll call, the actor's answer (None before
    they answer), and whether they may open the tally (HQ)."""
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        row = await _roll_call(uow, rollcall_id)
        answer = await uow.rollcalls.answer_of(rollcall_id, actor.user_id)
        return {"rollcall": (await _info(uow, row)).wire(),
                "mine": _answer_of(answer).wire() if answer else None,
                "may_manage": await _may_run(uow, user_id=actor.user_id, role=actor.role)}


async def rollcall_overview(ctx: AppContext, *, actor: Principal) -> JSON:
    """Whether the actor may start a roll call (the phone then offers 「安否確認を開始」),
    and the latest roll call, if any."""
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        latest = await uow.rollcalls.latest()
        return {"may_start": await _may_run(uow, user_id=actor.user_id, role=actor.role),
                "latest": (await _info(uow, latest)).wire() if latest else None}


# --- the tally ----------------------------------------------------------------------------

async def _tally_of(uow: UnitOfWork, row: RollCall) -> JSON:
    return rules.tally(await _info(uow, row), await _people(uow),
                       await _answers(uow, row.id))


async def rollcall_tally(ctx: AppContext, *, actor: Principal | None,
                         rollcall_id: int | None = None) -> JSON:
    """The tally HQ sees (``None``: the latest roll call). Raises HqOnly,
    RollCallNotFound."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        await _check_hq(uow, actor)
        return await _tally_of(uow, await _roll_call(uow, rollcall_id))


def _tally_throttle(ctx: AppContext) -> Throttle:
    throttle = ctx.throttles.get(_TALLY_THROTTLE)
    if throttle is None:
        async def publish(rollcall_id: int) -> None:
            await publish_tally(ctx, rollcall_id)
        throttle = ctx.throttles[_TALLY_THROTTLE] = Throttle(
            ctx.clock, TALLY_INTERVAL_SECONDS, publish)
    return throttle


async def publish_tally(ctx: AppContext, rollcall_id: int) -> None:
    """Send the roll call's tally to the HQ channel's members (``rollcall.tally``)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        hq = await uow.channels.by_slug(HQ_CHANNEL_SLUG)
        if hq is None:
            return
        tally = await _tally_of(uow, await _roll_call(uow, rollcall_id))
    await ctx.bus.publish(channel_topic(hq.id), encode({"type": "rollcall.tally",
                                                        "tally": tally}))


# --- reminding, exporting, ending -----------------------------------------------------------

async def remind_unanswered(ctx: AppContext, *, rollcall_id: int, by: str,
                            actor: Principal | None = None) -> int:
    """Push a reminder to those who have not answered (only them); returns how many.
    Raises HqOnly, RollCallNotFound, RollCallEnded."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await _check_hq(uow, actor)
        row = await _roll_call(uow, rollcall_id)
        if row.ended_at is not None:
            raise RollCallEnded()
        answered = set(await _answers(uow, row.id))
        missing = sorted(set(await uow.users.active_ids()) - answered)
        info = await _info(uow, row)
        audit_within(ctx, uow, AuditAction.ROLLCALL_REMINDED,
                     actor_user_id=actor.user_id if actor else None, by=by,
                     rollcall_id=row.id, count=len(missing), drill=row.drill)
        if missing and row.message_id is not None and info.channel_id is not None:
            push_to_people(ctx, uow, _push_note(info, row.message_id, info.channel_id,
                                                reminder=True), user_ids=missing)
    return len(missing)


async def export_rollcall_csv(ctx: AppContext, *, rollcall_id: int, by: str,
                              actor: Principal | None = None) -> tuple[str, bytes]:
    """The result as a CSV for Excel (BOM, CRLF, formula-safe cells), one row per person
    in org-chart order, and its file name. Audited. Raises HqOnly, RollCallNotFound."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await _check_hq(uow, actor)
        row = await _roll_call(uow, rollcall_id)
        rows = rules.csv_rows(await _people(uow), await _answers(uow, row.id))
        audit_within(ctx, uow, AuditAction.ROLLCALL_EXPORTED,
                     actor_user_id=actor.user_id if actor else None, by=by,
                     rollcall_id=row.id, rows=len(rows), drill=row.drill)
    data = UTF8_BOM + csv_text([rules.CSV_HEADER, *rows]).encode("utf-8")
    prefix = "drill-" if row.drill else ""
    return f"{prefix}rollcall-{row.id}.csv", data


async def end_rollcall(ctx: AppContext, *, rollcall_id: int, by: str,
                       actor: Principal | None = None) -> JSON:
    """Close the roll call to answers (its tally and export stay). Ending twice
    changes nothing. Raises HqOnly, RollCallNotFound."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await _check_hq(uow, actor)
        row = await _roll_call(uow, rollcall_id)
        if row.ended_at is None:
            row.ended_at = ctx.clock.now()
            audit_within(ctx, uow, AuditAction.ROLLCALL_ENDED,
                         actor_user_id=actor.user_id if actor else None, by=by,
                         rollcall_id=row.id, drill=row.drill,
                         answered=await uow.rollcalls.answer_count(row.id))

            async def tally_soon() -> None:
                _tally_throttle(ctx).request(rollcall_id)
            uow.on_commit(tally_soon)
        return (await _info(uow, row)).wire()
