"""Retention policies, legal holds and the purge job.

The purge removes the text of expired messages (and every revision of it) in batches,
one transaction each, and records each batch in the audit log by message id — never by
content — so ``tsunagu audit verify`` can tell a lawful purge from a deletion. A message
covered by an active legal hold is never purged; holds are re-read at the start of every
batch under the audit head's lock, so a hold placed mid-run is honoured from the next
batch on. Policy changes, holds and releases are audited.

Expiry trusts only times the audit chain vouches for: a candidate is purged only when a
sealed ``message.created`` entry for it lies within ``SEALED_TIME_SLACK`` of its stored
``created_at``, and expiry and holds are judged by that sealed time. A message whose
stored time disagrees with the log (``created_at`` moved back in the database) is kept
and reported (``unvouched``), never purged.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.auditchain import SEALED_TIME_SLACK, times_agree
from chat.domain.dates import wire_time, wire_time_or_none
from chat.domain.retention import (
    Effective,
    HoldScope,
    PolicyRow,
    check_hold_scope,
    check_keep_years,
    effective_policy,
    held_by,
    parse_channel_kind,
    time_windows,
)
from chat.errors import BadRequest, ChannelNotFound, HoldNotFound, HoldReleased, UserNotFound
from chat.store.models import LegalHold, Message, RetentionPolicy
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON, Progress, no_progress

BATCH_SIZE = 500
# How many unvouched message ids a run's report and audit entry name (then a count).
MAX_UNVOUCHED_LISTED = 100

log = logging.getLogger(__name__)




_iso = wire_time_or_none


# --- policies ---------------------------------------------------------------------------

def _scope(channel_kind: str | None, channel_id: int | None) -> tuple[str | None, int | None]:
    if (channel_kind is None) == (channel_id is None):
        raise BadRequest("name either a channel kind or one channel")
    if channel_kind is not None:
        try:
            return parse_channel_kind(channel_kind).value, None
        except ValueError as error:
            raise BadRequest(str(error)) from None
    return None, channel_id


async def set_policy(ctx: AppContext, *, keep_years: int | None, by: str,
                     channel_kind: str | None = None, channel_id: int | None = None,
                     actor_user_id: int | None = None) -> JSON:
    """Set how long a channel kind's (or one channel's) messages are kept; None: forever."""
    kind, channel = _scope(channel_kind, channel_id)
    try:
        check_keep_years(keep_years)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        if channel is not None and await uow.channels.get(channel) is None:
            raise ChannelNotFound()
        policy = await uow.retention.policy_for(channel_kind=kind, channel_id=channel)
        before = policy.keep_years if policy else "unset"
        if policy is None:
            policy = RetentionPolicy(channel_kind=kind, channel_id=channel)
            uow.retention.add_policy(policy)
        policy.keep_years, policy.updated_at, policy.updated_by = keep_years, ctx.clock.now(), by
        audit_within(ctx, uow, AuditAction.RETENTION_POLICY_SET, actor_user_id=actor_user_id, by=by,
                     channel_kind=kind, channel_id=channel, keep_years=keep_years,
                     before=before)
    return _policy_json(policy)


async def clear_policy(ctx: AppContext, *, by: str, channel_kind: str | None = None,
                       channel_id: int | None = None,
                       actor_user_id: int | None = None) -> bool:
    """Remove a policy (the kind's, or the default "forever", applies again)."""
    kind, channel = _scope(channel_kind, channel_id)
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        policy = await uow.retention.policy_for(channel_kind=kind, channel_id=channel)
        if policy is None:
            return False
        audit_within(ctx, uow, AuditAction.RETENTION_POLICY_CLEARED, actor_user_id=actor_user_id,
                     by=by, channel_kind=kind, channel_id=channel,
                     before=policy.keep_years)
        await uow.retention.delete_policy(policy)
    return True


def _policy_json(policy: RetentionPolicy) -> JSON:
    return {"channel_kind": policy.channel_kind, "channel_id": policy.channel_id,
            "keep_years": policy.keep_years, "updated_at": _iso(policy.updated_at),
            "updated_by": policy.updated_by}


async def list_policies(ctx: AppContext) -> list[JSON]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return [_policy_json(p) for p in await uow.retention.policies()]


# --- legal holds ------------------------------------------------------------------------

async def place_hold(ctx: AppContext, *, reason: str, by: str,
                     staff_number: str | None = None, channel_id: int | None = None,
                     starts_at: datetime | None = None, ends_at: datetime | None = None,
                     actor_user_id: int | None = None, confidential: bool = False) -> JSON:
    """Place a hold. A ``confidential`` one also keeps auditors' reads of what it covers
    out of the staff's own access record until it is released (docs/audit.md,
    Transparency)."""
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise BadRequest("a legal hold needs a reason of 1 to 200 characters")
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        user_id = None
        if staff_number is not None:
            user = await uow.users.by_staff_number(staff_number)
            if user is None:
                raise UserNotFound(f"no staff member {staff_number}")
            user_id = user.id
        if channel_id is not None and await uow.channels.get(channel_id) is None:
            raise ChannelNotFound()
        try:
            check_hold_scope(user_id=user_id, channel_id=channel_id, starts_at=starts_at,
                             ends_at=ends_at)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        hold = LegalHold(reason=reason, user_id=user_id, channel_id=channel_id,
                         starts_at=starts_at, ends_at=ends_at, placed_at=ctx.clock.now(),
                         placed_by=by, confidential=confidential)
        uow.retention.add_hold(hold)
        await uow.flush()
        audit_within(ctx, uow, AuditAction.LEGAL_HOLD_PLACED, actor_user_id=actor_user_id,
                     subject_user_id=user_id, by=by, hold_id=hold.id, channel_id=channel_id,
                     starts_at=_iso(starts_at), ends_at=_iso(ends_at), reason=reason,
                     confidential=confidential)
    return _hold_json(hold, staff_number)


async def release_hold(ctx: AppContext, hold_id: int, *, by: str,
                       actor_user_id: int | None = None) -> JSON:
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        hold = await uow.retention.hold(hold_id, for_update=True)
        if hold is None:
            raise HoldNotFound()
        if hold.released_at is not None:
            raise HoldReleased()
        hold.released_at, hold.released_by = ctx.clock.now(), by
        audit_within(ctx, uow, AuditAction.LEGAL_HOLD_RELEASED, actor_user_id=actor_user_id,
                     subject_user_id=hold.user_id, by=by, hold_id=hold.id)
    return _hold_json(hold, None)


def _hold_json(hold: LegalHold, staff_number: str | None) -> JSON:
    return {"id": hold.id, "reason": hold.reason, "user_id": hold.user_id,
            "staff_number": staff_number, "channel_id": hold.channel_id,
            "starts_at": _iso(hold.starts_at), "ends_at": _iso(hold.ends_at),
            "placed_at": _iso(hold.placed_at), "placed_by": hold.placed_by,
            "released_at": _iso(hold.released_at), "released_by": hold.released_by,
            "confidential": bool(hold.confidential)}


async def list_holds(ctx: AppContext, *, include_released: bool = False) -> list[JSON]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        holds = await uow.retention.holds(include_released=include_released)
        numbers: dict[int, str] = {}
        for hold in holds:
            if hold.user_id is not None and hold.user_id not in numbers:
                user = await uow.users.get(hold.user_id)
                numbers[hold.user_id] = user.staff_number if user else "?"
    return [_hold_json(h, numbers.get(h.user_id) if h.user_id else None) for h in holds]


async def active_hold_scopes(uow: UnitOfWork, *, confidential_only: bool = False
                             ) -> list[HoldScope]:
    """What each active legal hold covers (the purge's rule; the staff access record asks
    for the confidential ones only)."""
    scopes = []
    for hold in await uow.retention.holds():
        if confidential_only and not hold.confidential:
            continue
        conversations = (await uow.retention.conversation_ids(hold.user_id)
                         if hold.user_id is not None else frozenset[int]())
        scopes.append(HoldScope(hold_id=hold.id, user_id=hold.user_id,
                                channel_id=hold.channel_id, starts_at=hold.starts_at,
                                ends_at=hold.ends_at, conversation_ids=conversations))
    return scopes


# --- the purge --------------------------------------------------------------------------

@dataclass
class ChannelPlan:
    channel_id: int
    kind: str
    policy: Effective
    cutoff: datetime
    expired: int


@dataclass
class RetentionReport:
    run_id: str
    dry_run: bool
    channels: int = 0
    expired: int = 0
    purged_messages: int = 0
    purged_revisions: int = 0
    purged_attachments: int = 0
    held: int = 0
    hold_ids: set[int] = field(default_factory=set)
    # Photos uploaded and never sent, older than CHAT_UNSENT_UPLOAD_HOURS.
    unsent_uploads: int = 0
    unsent_upload_bytes: int = 0
    # The PBX event log's bodies and calls' numbers older than CHAT_PBX_LOG_DAYS.
    pbx_events_blanked: int = 0
    pbx_calls_blanked: int = 0
    # Expired by their stored time, but no sealed message.created entry vouches for it:
    # kept, and named here (tampered rows, for `tsunagu audit verify` to explain).
    unvouched: int = 0
    unvouched_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        removal = "would remove" if self.dry_run else "removed"
        blanking = "would blank" if self.dry_run else "blanked"
        return (f"retention run {self.run_id}: {self.expired} expired message(s) in "
                f"{self.channels} channel(s); {verb} {self.purged_messages} message(s)"
                + ("" if self.dry_run else f" ({self.purged_revisions} revision(s))")
                + f"; {self.held} kept under legal hold; {removal} "
                f"{self.unsent_uploads} photo(s) uploaded and never sent "
                f"({self.unsent_upload_bytes / 2**20:.1f} MiB); {blanking} "
                f"the numbers of {self.pbx_events_blanked} PBX event(s) and "
                f"{self.pbx_calls_blanked} call(s)"
                + ("" if not self.unvouched else
                   f"; KEPT {self.unvouched} message(s) whose stored creation time the "
                   f"audit log does not vouch for (ids "
                   f"{', '.join(map(str, self.unvouched_ids))}"
                   f"{', …' if self.unvouched > len(self.unvouched_ids) else ''}): "
                   "run `tsunagu audit verify`"))


async def plan_retention(ctx: AppContext, now: datetime) -> list[ChannelPlan]:
    """Which channels have expired messages, and how many (before holds)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        policies = [PolicyRow(p.channel_kind, p.channel_id, p.keep_years)
                    for p in await uow.retention.policies()]
        if not policies:
            return []
        plans = []
        for channel in await uow.channels.all():
            policy = effective_policy(channel.id, channel.kind, policies)
            cutoff = policy.cutoff(now)
            if cutoff is None:
                continue
            expired = await uow.retention.count_expired(channel.id, cutoff)
            if expired:
                plans.append(ChannelPlan(channel.id, channel.kind, policy, cutoff, expired))
    return plans


async def run_retention(ctx: AppContext, *, by: str, dry_run: bool = False,
                        progress: Progress = no_progress, batch_size: int = BATCH_SIZE,
                        actor_user_id: int | None = None) -> RetentionReport:
    """Purge the text of every expired message no legal hold covers, then remove the
    photos uploaded and never sent for longer than ``CHAT_UNSENT_UPLOAD_HOURS`` and
    blank the PBX event log's bodies and the calls' numbers older than
    ``CHAT_PBX_LOG_DAYS``.

    Expiry is judged once, at the start (the run's ``now``); holds at every batch.
    An unsent upload is no record (nobody but its uploader ever saw it), so no hold
    keeps it."""
    now = ctx.clock.now()
    report = RetentionReport(run_id=secrets.token_hex(6), dry_run=dry_run)
    plans = await plan_retention(ctx, now)
    report.channels = len(plans)
    report.expired = sum(plan.expired for plan in plans)
    progress(0, report.expired)
    done = 0
    for plan in plans:
        after_id = 0
        while True:
            seen, after_id = await _purge_batch(ctx, plan, report, after_id=after_id,
                                                limit=batch_size, dry_run=dry_run, by=by)
            if not seen:
                break
            done += seen
            progress(min(done, report.expired), report.expired)
    progress(report.expired, report.expired)
    uploaded_before = now - timedelta(seconds=ctx.settings.unsent_upload_seconds)
    pbx_before = now - timedelta(seconds=ctx.settings.pbx_log_seconds)
    if dry_run:
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            report.unsent_uploads, report.unsent_upload_bytes = (
                await uow.attachments.count_unsent(uploaded_before))
            report.pbx_events_blanked, report.pbx_calls_blanked = (
                await uow.pbx.count_to_blank(pbx_before))
    else:
        await _remove_unsent_uploads(ctx, report, uploaded_before, limit=batch_size, by=by)
        await _blank_pbx_log(ctx, report, pbx_before, limit=batch_size, by=by)
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        audit_within(ctx, uow, AuditAction.RETENTION_RUN, actor_user_id=actor_user_id, by=by,
                     run_id=report.run_id, dry_run=dry_run, channels=report.channels,
                     expired=report.expired, purged_messages=report.purged_messages,
                     purged_revisions=report.purged_revisions,
                     purged_attachments=report.purged_attachments, held=report.held,
                     hold_ids=sorted(report.hold_ids),
                     unsent_uploads_removed=report.unsent_uploads,
                     unsent_upload_bytes=report.unsent_upload_bytes,
                     pbx_events_blanked=report.pbx_events_blanked,
                     pbx_calls_blanked=report.pbx_calls_blanked,
                     unvouched=report.unvouched, unvouched_ids=report.unvouched_ids)
    return report


async def _blank_pbx_log(ctx: AppContext, report: RetentionReport, before: datetime, *,
                         limit: int, by: str) -> None:
    """Blank, in audited batches, the raw bodies of PBX events received before
    ``before`` and the numbers of calls last changed before it: callers' numbers and
    names are personal data, kept as long as the log is useful to trace a call. A
    purged call notice already keeps none (``forget_notice_callers``); this takes the
    same numbers out of the log."""
    blanked = {AuditAction.PBX_EVENTS_BLANKED: 0, AuditAction.PBX_CALLS_BLANKED: 0}
    for action in blanked:
        after_id = 0
        while True:
            async with unit_of_work(ctx.db, TxMode.BULK_WRITE) as uow:
                blank = (uow.pbx.blank_old_events if action is AuditAction.PBX_EVENTS_BLANKED
                         else uow.pbx.forget_old_call_numbers)
                ids = await blank(before, after_id=after_id, limit=limit)
                if not ids:
                    break
                after_id = ids[-1]
                blanked[action] += len(ids)
                audit_within(ctx, uow, action, by=by, run_id=report.run_id,
                             before=before.isoformat(), first_id=ids[0], last_id=ids[-1],
                             count=len(ids))
    report.pbx_events_blanked = blanked[AuditAction.PBX_EVENTS_BLANKED]
    report.pbx_calls_blanked = blanked[AuditAction.PBX_CALLS_BLANKED]


async def _remove_unsent_uploads(ctx: AppContext, report: RetentionReport,
                                 uploaded_before: datetime, *, limit: int, by: str) -> None:
    """Remove, in audited batches, the uploads never sent and older than
    ``uploaded_before`` (a photo's bytes and any place it was taken)."""
    after_id = 0
    while True:
        async with unit_of_work(ctx.db, TxMode.BULK_WRITE) as uow:
            ids = await uow.attachments.unsent_ids(uploaded_before, after_id=after_id,
                                                   limit=limit)
            if not ids:
                return
            after_id = ids[-1]
            removed = await uow.attachments.delete_unsent(ids)
            if removed:
                size = sum(row[3] for row in removed)
                report.unsent_uploads += len(removed)
                report.unsent_upload_bytes += size
                # Ids and counts, never content (as retention.purged).
                audit_within(ctx, uow, AuditAction.ATTACHMENT_UNSENT_REMOVED, by=by,
                             run_id=report.run_id, uploaded_before=uploaded_before.isoformat(),
                             attachment_ids=[row[0] for row in removed],
                             uploader_ids=sorted({row[1] for row in removed}),
                             attachments=len(removed), bytes=size)


async def _purge_batch(ctx: AppContext, plan: ChannelPlan, report: RetentionReport, *,
                       after_id: int, limit: int, dry_run: bool, by: str) -> tuple[int, int]:
    """One transaction: lock up to ``limit`` expired messages after ``after_id``, then
    their channel and the audit head, read the holds and purge. Returns (messages
    looked at, last id)."""
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, (TxMode.BULK_WRITE if not dry_run else TxMode.READ)) as uow:
        # Locks in the order every writer takes them (PostgreSQL; SQLite has one
        # writer): messages, then their channel, then the head. An edit locks its
        # message, then takes a version of the channel; a batch of sends locks channels,
        # then the head at seal. Taken in another order, a purge and an edit could each
        # hold what the other waits for.
        page = await uow.retention.expired_page(plan.channel_id, plan.cutoff,
                                                after_id=after_id, limit=limit,
                                                lock=not dry_run)
        if not page:
            return 0, after_id
        if not dry_run:
            await uow.channels.lock(plan.channel_id)
            # Before the holds are read: a hold placed meanwhile is either seen here or
            # committed after this batch (placing one appends, and waits for the head).
            await uow.audit.lock_head()
        holds = await active_hold_scopes(uow)
        sealed = await _sealed_creation_times(uow, page)
        purge_ids: list[int] = []
        for message in page:
            created = sealed.get(message.id)
            if created is None or created >= plan.cutoff:
                _unvouched(report, message.id, message.created_at)
                continue
            holding = held_by(holds, sender_id=message.sender_id, channel_id=message.channel_id,
                              created_at=created)
            if holding:
                report.held += 1
                report.hold_ids.update(holding)
            else:
                purge_ids.append(message.id)
        report.purged_messages += len(purge_ids)
        if purge_ids and not dry_run:
            to_purge = [m for m in page if m.id in set(purge_ids)]
            last_version = await uow.channels.allocate_versions(plan.channel_id,
                                                                len(to_purge))
            first_version = last_version - len(to_purge) + 1
            for offset, message in enumerate(to_purge):
                message.body = ""
                message.data = None  # a call notice's caller, a memo's contents
                message.purged_at = now
                message.version = first_version + offset
                message.pinned_at = message.pinned_by = None
            await uow.retention.forget_notice_callers(purge_ids)
            revisions = await uow.retention.delete_revisions(purge_ids)
            # Photos go with the text (their rows hold the bytes and the place); stamps
            # and confirmations stay: they hold no content.
            photos = await uow.attachments.delete_of_messages(purge_ids)
            report.purged_revisions += revisions
            report.purged_attachments += photos
            audit_within(ctx, uow, AuditAction.RETENTION_PURGED, by=by, run_id=report.run_id,
                         channel_id=plan.channel_id, keep_years=plan.policy.keep_years,
                         policy=plan.policy.source, cutoff=plan.cutoff.isoformat(),
                         message_ids=purge_ids, messages=len(purge_ids),
                         revisions=revisions, attachments=photos)
        return len(page), page[-1].id


async def _sealed_creation_times(uow: UnitOfWork, page: Sequence[Message]
                                 ) -> dict[int, datetime]:
    """message id → the time its ``message.created`` entry was sealed, for the messages
    whose stored ``created_at`` that entry vouches for (within the slack)."""
    stored = {m.id: m.created_at for m in page}
    entries = await uow.audit.entries_between(
        AuditAction.MESSAGE_CREATED,
        time_windows(stored.values(), SEALED_TIME_SLACK))
    sealed: dict[int, datetime] = {}
    for occurred_at, detail in entries:
        try:
            message_id = int(json.loads(detail)["message_id"])
        except (ValueError, KeyError, TypeError):
            continue
        if message_id in stored and times_agree(stored[message_id], occurred_at):
            sealed[message_id] = occurred_at
    return sealed


def _unvouched(report: RetentionReport, message_id: int, created_at: datetime) -> None:
    report.unvouched += 1
    if len(report.unvouched_ids) < MAX_UNVOUCHED_LISTED:
        report.unvouched_ids.append(message_id)
    log.warning("retention kept message %s: no sealed audit entry vouches for its stored "
                "creation time %s", message_id, wire_time(created_at))


def describe_plans(plans: Sequence[ChannelPlan]) -> list[JSON]:
    return [{"channel_id": p.channel_id, "kind": p.kind, "keep_years": p.policy.keep_years,
             "policy": p.policy.source, "cutoff": wire_time(p.cutoff), "expired": p.expired}
            for p in plans]
