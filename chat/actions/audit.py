"""The audit log's checkpoints (the chain head signed) and its verification
(``tsunagu audit verify``). Recording events is ``chat.audit.record``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy.exc import IntegrityError

from chat.context import AppContext
from chat.domain.auditchain import (
    GENESIS_HASH,
    body_digest,
    checkpoint_valid,
    entry_hash,
    key_id,
    public_pem,
    sign_checkpoint,
    signing_key,
)
from chat.store.audit import content_of
from chat.store.models import AuditCheckpoint
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import Progress

# --- checkpoints and verification -------------------------------------------------------

def signing_key_of(ctx: AppContext) -> Ed25519PrivateKey:
    return signing_key(ctx.secrets.audit_signing_key)


def public_key_pem(ctx: AppContext) -> str:
    return public_pem(signing_key_of(ctx).public_key())


async def make_checkpoint(ctx: AppContext) -> AuditCheckpoint | None:
    """Sign the chain head, unless it is empty or already signed. Two nodes racing sign
    the same head; the unique seq keeps one."""
    key = signing_key_of(ctx)
    try:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            head = await uow.audit.head()
            last = await uow.audit.last_checkpoint()
            if head is None or head.seq == 0 or (last is not None and last.seq >= head.seq):
                return None
            checkpoint = AuditCheckpoint(
                seq=head.seq, hash=head.hash, signed_at=ctx.clock.now(),
                key_id=key_id(key.public_key()),
                signature=sign_checkpoint(key, head.seq, head.hash))
            uow.audit.add_checkpoint(checkpoint)
    except IntegrityError:
        return None
    return checkpoint


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    revisions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems




async def verify_log(ctx: AppContext, *, public_key: Ed25519PublicKey | None = None,
                     progress: Progress | None = None) -> VerifyReport:
    """Walk the chain, the checkpoints and every message revision; report the first
    broken entry (later ones depend on it) and every other kind of problem found.

    Catches an altered entry (its hash), a deleted or reordered one (seq and prev_hash),
    entries cut from the end (the head and the last checkpoint), a forged checkpoint (its
    signature), and message text changed in place (revisions and current text against
    the digests the log recorded when they were written).
    """
    key = public_key or signing_key_of(ctx).public_key()
    report = VerifyReport()
    digests: dict[tuple[int, int], str] = {}
    purged: set[int] = set()
    # One snapshot: entries and messages written while verify runs are simply not seen
    # (they would otherwise look like a log that ends past its head).
    async with unit_of_work(ctx.db, TxMode.SNAPSHOT_READ) as uow:
        total = await uow.audit.count() + await uow.messages.revision_count()
        checkpoints = {c.seq: c for c in await uow.audit.checkpoints()}
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
            if event.seq in checkpoints:
                hashes_at[event.seq] = event.hash
            if event.action.startswith("message."):
                _remember_digest(digests, event.detail)
            elif event.action == "retention.purged":
                purged.update(_purged_ids(event.detail))
            prev, expected_seq = event.hash, expected_seq + 1
        last_seq = expected_seq - 1
        if not chain_broken and head is not None and (head.seq, head.hash) != (last_seq, prev):
            report.problems.append(
                f"the log ends at entry {last_seq} but its head records entry {head.seq}: "
                "entries were removed from the end")
        for seq, checkpoint in sorted(checkpoints.items()):
            report.checkpoints += 1
            if not checkpoint_valid(key, checkpoint.seq, checkpoint.hash,
                                    checkpoint.signature):
                report.problems.append(f"checkpoint at entry {seq} has a bad signature")
            elif seq > last_seq and not chain_broken:
                report.problems.append(
                    f"checkpoint at entry {seq} is beyond the end of the log ({last_seq}): "
                    "signed entries were removed")
            elif seq in hashes_at and hashes_at[seq] != checkpoint.hash:
                report.problems.append(f"entry {seq} differs from its signed checkpoint")
        if not chain_broken:
            await _check_messages(uow, digests, purged, report, progress, total)
    if progress:
        progress(total, total)
    return report


MAX_LISTED = 20


async def _check_messages(uow: UnitOfWork, digests: dict[tuple[int, int], str],
                          purged: set[int], report: VerifyReport,
                          progress: Progress | None, total: int) -> None:
    """Current texts, then every revision, against the digests the log recorded; a
    recorded revision that no longer exists must have been taken by a retention run."""
    async for message in uow.messages.all_current():
        if message.purged_at is not None:
            if message.id not in purged:
                report.problems.append(
                    f"message {message.id} is marked purged but no retention run in the "
                    "audit log purged it")
            elif message.body:
                report.problems.append(
                    f"message {message.id} was purged but has text again")
            continue
        recorded = digests.get((message.id, message.revision))
        if message.deleted_at is None and recorded != body_digest(message.body):
            report.problems.append(
                f"message {message.id}: the current text differs from what the "
                "audit log recorded for its revision")
    async for revision in uow.messages.all_revisions():
        report.revisions += 1
        if progress and (report.entries + report.revisions) % 1000 == 0:
            progress(report.entries + report.revisions, total)
        recorded = digests.pop((revision.message_id, revision.revision), None)
        if recorded is None:
            report.problems.append(
                f"message {revision.message_id} revision {revision.revision} is not in "
                "the audit log")
        elif recorded != body_digest(revision.body):
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


def _remember_digest(digests: dict[tuple[int, int], str], detail: str) -> None:
    try:
        data = json.loads(detail)
        digests[(int(data["message_id"]), int(data["revision"]))] = str(data["body_sha256"])
    except (ValueError, KeyError, TypeError):
        return
