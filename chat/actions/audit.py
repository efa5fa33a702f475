"""The audit log's checkpoints (the chain head signed, each linked to the one before),
their anchors kept outside the database, and verification (``tsunagu audit verify``).
Recording events is ``chat.audit.record``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy.exc import IntegrityError

from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.auditchain import (
    GENESIS_HASH,
    Anchor,
    CurrentMessage,
    RecordedMessage,
    body_digest,
    chained_checkpoint_valid,
    checkpoint_digest,
    checkpoint_valid,
    entry_hash,
    key_id,
    message_disagreements,
    public_pem,
    sign_chained_checkpoint,
    signing_key,
)
from chat.domain.dates import wire_time
from chat.store.audit import content_of
from chat.store.models import AuditCheckpoint
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import Progress

log = logging.getLogger(__name__)

# --- checkpoints and verification -------------------------------------------------------

def signing_key_of(ctx: AppContext) -> Ed25519PrivateKey:
    return signing_key(ctx.secrets.audit_signing_key)


def public_key_pem(ctx: AppContext) -> str:
    return public_pem(signing_key_of(ctx).public_key())


def digest_of(checkpoint: AuditCheckpoint) -> str:
    return checkpoint_digest(checkpoint.number, checkpoint.seq, checkpoint.hash,
                             checkpoint.prev_digest)


def anchor_of(checkpoint: AuditCheckpoint) -> Anchor:
    return Anchor(number=checkpoint.number, seq=checkpoint.seq, hash=checkpoint.hash,
                  prev_digest=checkpoint.prev_digest,
                  signed_at=wire_time(checkpoint.signed_at), key_id=checkpoint.key_id,
                  signature=checkpoint.signature)


async def make_checkpoint(ctx: AppContext) -> AuditCheckpoint | None:
    """Sign the chain head, unless it is empty or already signed, as the next checkpoint:
    numbered, linked to the one before, and named by an ``audit.checkpointed`` entry (so
    deleting checkpoints leaves a sealed entry naming one that is gone). Nodes take the
    head's lock first, so two racing sign one head once. Each new checkpoint goes to the
    anchor file and syslog when those are configured."""
    key = signing_key_of(ctx)
    try:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            await uow.audit.lock_head()
            head = await uow.audit.head()
            last = await uow.audit.last_checkpoint()
            # A chained checkpoint at entry S is followed by its own entry, S + 1.
            signed_up_to = (0 if last is None
                            else last.seq + (1 if last.number is not None else 0))
            if head is None or head.seq == 0 or head.seq <= signed_up_to:
                return None
            number = 1 if last is None or last.number is None else last.number + 1
            prev = GENESIS_HASH if last is None else digest_of(last)
            checkpoint = AuditCheckpoint(
                seq=head.seq, hash=head.hash, signed_at=ctx.clock.now(),
                key_id=key_id(key.public_key()), number=number, prev_digest=prev,
                signature=sign_chained_checkpoint(key, number, head.seq, head.hash, prev))
            uow.audit.add_checkpoint(checkpoint)
            audit_within(ctx, uow, AuditAction.AUDIT_CHECKPOINTED, number=number,
                         seq=head.seq, hash=head.hash, digest=digest_of(checkpoint))
    except IntegrityError:
        return None
    await write_anchor(ctx, anchor_of(checkpoint))
    return checkpoint


async def newest_checkpoint(ctx: AppContext) -> AuditCheckpoint | None:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return await uow.audit.last_checkpoint()


async def write_anchor(ctx: AppContext, anchor: Anchor) -> None:
    """Append the checkpoint to ``CHAT_AUDIT_ANCHOR_FILE`` (fsynced) and send it to the
    local syslog with ``CHAT_AUDIT_ANCHOR_SYSLOG``. A failure is logged loudly but does
    not undo the checkpoint: the database copy still stands."""
    line = anchor.to_json()
    path = ctx.settings.audit_anchor_file
    if path is not None:
        try:
            await asyncio.to_thread(append_line, path, line)
        except OSError as error:
            log.error("could not append the audit anchor to %s: %s", path, error)
    if ctx.settings.audit_anchor_syslog:
        try:
            await asyncio.to_thread(_to_syslog, ctx.settings.audit_anchor_syslog, line)
        except OSError as error:
            log.error("could not send the audit anchor to syslog: %s", error)


def append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


class _SysLogOrRaise(logging.handlers.SysLogHandler):
    """The standard handler, but a send that fails raises (the caller logs it) instead
    of printing a traceback to stderr."""

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # the exception emit() is handling


def _to_syslog(socket_path: str, line: str) -> None:
    """The standard library's handler to the local syslog socket (/dev/log), which
    rsyslog or journald may forward to a collector the database's writers cannot reach."""
    if not os.path.exists(socket_path):
        raise OSError(f"no syslog socket at {socket_path}")
    handler = _SysLogOrRaise(address=socket_path,
                             facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)
    try:
        handler.emit(logging.LogRecord("tsunagu.audit.anchor", logging.WARNING, __file__, 0,
                                       "tsunagu audit anchor %s", (line,), None))
    finally:
        handler.close()


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    revisions: int = 0
    messages: int = 0
    anchors: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_log(ctx: AppContext, *, public_key: Ed25519PublicKey | None = None,
                     progress: Progress | None = None,
                     anchors: Sequence[Anchor] = ()) -> VerifyReport:
    """Walk the chain, the checkpoints, every message and every revision; report the
    first broken entry (later ones depend on it) and every other kind of problem found.

    Catches an altered entry (its hash), a deleted or reordered one (seq and prev_hash),
    entries cut from the end (the head and the last checkpoint), a forged checkpoint (its
    signature), a deleted checkpoint (the numbers, the links, and the sealed entry that
    names each), message text changed in place (revisions and current text against the
    digests), a message whose stored state (channel, sender, times, deletion, revision)
    differs from what its sealed entries say, and, given ``anchors`` kept elsewhere, a
    log cut back past an anchored checkpoint.
    """
    key = public_key or signing_key_of(ctx).public_key()
    report = VerifyReport()
    digests: dict[tuple[int, int], str] = {}
    recorded: dict[int, RecordedMessage] = {}
    named: dict[int, tuple[int, int]] = {}  # checkpoint number -> (its seq, entry seq)
    purged: set[int] = set()
    # One snapshot: entries and messages written while verify runs are simply not seen
    # (they would otherwise look like a log that ends past its head).
    async with unit_of_work(ctx.db, TxMode.SNAPSHOT_READ) as uow:
        # Messages are about as many as revisions: the total is an estimate for progress.
        total = (await uow.audit.count() + 2 * await uow.messages.revision_count())
        checkpoints = list(await uow.audit.checkpoints())
        watched = {c.seq for c in checkpoints} | {a.seq for a in anchors}
        head = await uow.audit.head()
        expected_seq, prev = 1, GENESIS_HASH
        hashes_at: dict[int, str] = {}
        chain_broken = False
        async for event in uow.audit.in_order():
            report.entries += 1
            if progress and report.entries % 1000 == 0:
                progress(report.entries, total)
            if chain_broken:
                continue
            if event.seq != expected_seq:
                report.problems.append(
                    f"entry {expected_seq} is missing (the log jumps to {event.seq}): "
                    "entries were deleted or reordered")
                chain_broken = True
                continue
            if event.prev_hash != prev:
                report.problems.append(
                    f"entry {event.seq} (id {event.id}) does not follow entry "
                    f"{event.seq - 1}: the log was reordered or rewritten")
                chain_broken = True
                continue
            recomputed = entry_hash(prev, content_of(event))
            if recomputed != event.hash:
                report.problems.append(
                    f"entry {event.seq} (id {event.id}, {event.action}) was altered: "
                    "its content no longer matches its hash")
                chain_broken = True
                continue
            if event.seq in watched:
                hashes_at[event.seq] = event.hash
            if event.action.startswith("message."):
                _remember(digests, recorded, event.action, event.occurred_at, event.detail)
            elif event.action == "retention.purged":
                purged.update(_purged_ids(event.detail))
            elif event.action == AuditAction.AUDIT_CHECKPOINTED:
                _remember_checkpoint(named, event.seq, event.detail)
            prev, expected_seq = event.hash, expected_seq + 1
        last_seq = expected_seq - 1
        if not chain_broken and head is not None and (head.seq, head.hash) != (last_seq, prev):
            report.problems.append(
                f"the log ends at entry {last_seq} but its head records entry {head.seq}: "
                "entries were removed from the end")
        _check_checkpoints(key, checkpoints, named, hashes_at, last_seq, chain_broken, report)
        _check_anchors(key, anchors, checkpoints, hashes_at, last_seq, chain_broken, report)
        if not chain_broken:
            await _check_messages(uow, digests, recorded, purged, report, progress, total)
    if progress:
        progress(total, total)
    return report


def _check_checkpoints(key: Ed25519PublicKey, checkpoints: Sequence[AuditCheckpoint],
                       named: dict[int, tuple[int, int]], hashes_at: dict[int, str],
                       last_seq: int, chain_broken: bool, report: VerifyReport) -> None:
    """Signatures, then the chain of numbered checkpoints (no gap, each linked to the one
    before), then every ``audit.checkpointed`` entry's checkpoint still being there."""
    previous: AuditCheckpoint | None = None
    numbers: set[int] = set()
    for checkpoint in checkpoints:
        report.checkpoints += 1
        seq = checkpoint.seq
        if checkpoint.number is None or checkpoint.prev_digest is None:
            valid = checkpoint_valid(key, seq, checkpoint.hash, checkpoint.signature)
        else:
            valid = chained_checkpoint_valid(key, checkpoint.number, seq, checkpoint.hash,
                                             checkpoint.prev_digest, checkpoint.signature)
        if not valid:
            report.problems.append(f"checkpoint at entry {seq} has a bad signature")
        elif seq > last_seq and not chain_broken:
            report.problems.append(
                f"checkpoint at entry {seq} is beyond the end of the log ({last_seq}): "
                "signed entries were removed")
        elif seq in hashes_at and hashes_at[seq] != checkpoint.hash:
            report.problems.append(f"entry {seq} differs from its signed checkpoint")
        if checkpoint.number is not None:
            numbers.add(checkpoint.number)
            expected = (1 if previous is None or previous.number is None
                        else previous.number + 1)
            link = GENESIS_HASH if previous is None else digest_of(previous)
            if checkpoint.number != expected:
                report.problems.append(
                    f"checkpoint #{checkpoint.number} (entry {seq}) follows checkpoint "
                    f"#{expected - 1 if expected > 1 else 0}: checkpoint(s) "
                    f"#{expected}–#{checkpoint.number - 1} were deleted")
            elif checkpoint.prev_digest != link:
                report.problems.append(
                    f"checkpoint #{checkpoint.number} (entry {seq}) does not link to the "
                    "checkpoint before it: a checkpoint was deleted or replaced")
        previous = checkpoint
    gone = sorted(n for n in named if n not in numbers)
    for number in gone[:MAX_LISTED]:
        signed_seq, entry_seq = named[number]
        report.problems.append(
            f"checkpoint #{number} (entry {signed_seq}), recorded by entry {entry_seq}, "
            "is missing from the database: checkpoints were deleted")


def _check_anchors(key: Ed25519PublicKey, anchors: Sequence[Anchor],
                   checkpoints: Sequence[AuditCheckpoint], hashes_at: dict[int, str],
                   last_seq: int, chain_broken: bool, report: VerifyReport) -> None:
    """Each anchor kept outside the database must still be a point of the chain: its
    checkpoint stored, and the log reaching its entry with its hash."""
    stored = {(c.seq, c.hash, c.signature) for c in checkpoints}
    for anchor in anchors:
        report.anchors += 1
        if not anchor.valid(key):
            report.problems.append(
                f"{anchor.label()} has a bad signature: not signed by this key")
            continue
        if (anchor.seq, anchor.hash, anchor.signature) not in stored:
            report.problems.append(
                f"{anchor.label()} is no longer in the database: checkpoints were "
                "deleted or replaced")
        if chain_broken:
            continue
        if anchor.seq > last_seq:
            report.problems.append(
                f"{anchor.label()}: the log now ends at entry {last_seq}, before the "
                "anchored entry: entries were cut from the end")
        elif hashes_at.get(anchor.seq) != anchor.hash:
            report.problems.append(
                f"{anchor.label()}: entry {anchor.seq} differs from the anchored hash: "
                "the log was rewritten")


MAX_LISTED = 20
# Every disagreeing message is named, up to this many (then a count of the rest).
MAX_MESSAGES_LISTED = 1000


async def _check_messages(uow: UnitOfWork, digests: dict[tuple[int, int], str],
                          recorded: dict[int, RecordedMessage], purged: set[int],
                          report: VerifyReport, progress: Progress | None,
                          total: int) -> None:
    """Each current message against what its sealed entries say (channel, sender,
    times, deletion, revision, text digest), then every revision against the digests;
    a recorded revision that no longer exists must have been taken by a retention run."""
    disagreeing = 0
    async for message in uow.messages.all_current():
        report.messages += 1
        if progress and (report.entries + report.messages) % 1000 == 0:
            progress(report.entries + report.messages, total)
        found = message_disagreements(CurrentMessage(
            id=message.id, channel_id=message.channel_id, sender_id=message.sender_id,
            revision=message.revision, created_at=message.created_at,
            edited_at=message.edited_at, deleted_at=message.deleted_at,
            purged=message.purged_at is not None), recorded.get(message.id))
        if message.purged_at is not None:
            if message.id not in purged:
                found.append("marked purged but no retention run in the audit log "
                             "purged it")
            elif message.body:
                found.append("purged but has text again")
        else:
            digest = digests.get((message.id, message.revision))
            if message.deleted_at is None and digest != body_digest(message.body):
                found.append("the current text differs from what the audit log recorded "
                             "for its revision")
            elif message.deleted_at is not None and message.body:
                found.append("deleted but still has text")
        if found:
            disagreeing += 1
            if disagreeing <= MAX_MESSAGES_LISTED:
                report.problems.append(f"message {message.id}: " + "; ".join(found))
    if disagreeing > MAX_MESSAGES_LISTED:
        report.problems.append(
            f"… and {disagreeing - MAX_MESSAGES_LISTED} more messages that disagree with "
            "the audit log")
    async for revision in uow.messages.all_revisions():
        report.revisions += 1
        if progress and (report.entries + report.messages + report.revisions) % 1000 == 0:
            progress(report.entries + report.messages + report.revisions, total)
        digest = digests.pop((revision.message_id, revision.revision), None)
        if digest is None:
            report.problems.append(
                f"message {revision.message_id} revision {revision.revision} is not in "
                "the audit log")
        elif digest != body_digest(revision.body):
            report.problems.append(
                f"message {revision.message_id} revision {revision.revision}: the text "
                "differs from what the audit log recorded")
    missing = sorted(key for key in digests if key[0] not in purged)
    for message_id, number in missing[:MAX_LISTED]:
        report.problems.append(
            f"message {message_id} revision {number} is missing: it was deleted outside "
            "a retention run")
    if len(missing) > MAX_LISTED:
        report.problems.append(f"… and {len(missing) - MAX_LISTED} more missing revisions")


def _purged_ids(detail: str) -> list[int]:
    try:
        return [int(i) for i in json.loads(detail)["message_ids"]]
    except (ValueError, KeyError, TypeError):
        return []


_MESSAGE_STATES = frozenset({AuditAction.MESSAGE_CREATED, AuditAction.MESSAGE_EDITED,
                             AuditAction.MESSAGE_DELETED})


def _remember(digests: dict[tuple[int, int], str], recorded: dict[int, RecordedMessage],
              action: str, occurred_at: datetime, detail: str) -> None:
    try:
        data = json.loads(detail)
        message_id = int(data["message_id"])
        digests[(message_id, int(data["revision"]))] = str(data["body_sha256"])
    except (ValueError, KeyError, TypeError):
        return
    if action in _MESSAGE_STATES:
        recorded.setdefault(message_id, RecordedMessage()).note(action, occurred_at, data)


def _remember_checkpoint(named: dict[int, tuple[int, int]], entry_seq: int,
                         detail: str) -> None:
    try:
        data = json.loads(detail)
        named[int(data["number"])] = (int(data["seq"]), entry_seq)
    except (ValueError, KeyError, TypeError):
        return
