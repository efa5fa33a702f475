"""The PBX directory: which person, desk-group phone or contact a number is. Imported
whole from a CSV (preview first, then the same rule applied), listed, and looked up when a
call arrives (docs/pbx.md §5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.directory import DirectoryDiff, DirectoryRow, DirectoryTarget, diff_directory
from chat.domain.numbers import Number
from chat.errors import BadRequest, ChannelNotFound
from chat.store.models import PbxDirectoryEntry
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON


async def user_of_number(uow: UnitOfWork, number: Number) -> int | None:
    """The person whose extension (or direct-in number) this is: the PBX directory
    first, then the staff record's extension."""
    entry = await uow.pbx.directory_entry(number.value)
    if entry is not None:
        return entry.user_id if entry.kind == "user" else None
    if number.is_extension:
        user = await uow.pbx.user_with_extension(number.value)
        return user.id if user else None
    return None


@dataclass
class DirectoryReport:
    created: int = 0
    updated: int = 0
    removed: int = 0

    def summary(self) -> str:
        return f"{self.created} added, {self.updated} updated, {self.removed} removed"


async def _resolve_directory(uow: UnitOfWork, rows: Sequence[DirectoryRow]
                             ) -> dict[str, DirectoryTarget]:
    """The file's rows with their targets resolved to ids. Raises BadRequest or
    ChannelNotFound when a staff number, department or channel vanished since the file
    was validated."""
    desired: dict[str, DirectoryTarget] = {}
    for row in rows:
        user_id = channel_id = None
        if row.kind == "user":
            user = await uow.users.by_staff_number(row.target)
            if user is None:
                raise BadRequest(f"{row.number}: staff number {row.target} does not exist")
            user_id = user.id
        elif row.kind == "desk":
            channel_id = await _desk_channel(uow, row.target)
        desired[row.number] = DirectoryTarget(kind=row.kind, user_id=user_id,
                                              channel_id=channel_id, name=row.name)
    return desired


def _stored(entry: PbxDirectoryEntry) -> DirectoryTarget:
    return DirectoryTarget(kind=entry.kind, user_id=entry.user_id,
                           channel_id=entry.channel_id, name=entry.name)


async def preview_directory(ctx: AppContext, rows: Sequence[DirectoryRow]) -> DirectoryDiff:
    """What :func:`import_directory` would change, by the same rule, writing nothing."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        desired = await _resolve_directory(uow, rows)
        current = {e.number: _stored(e) for e in await uow.pbx.directory()}
    return diff_directory(desired, current)


async def import_directory(ctx: AppContext, rows: Sequence[DirectoryRow], *,
                           by: str, actor_user_id: int | None = None) -> DirectoryReport:
    """Make the PBX directory exactly ``rows`` (validated whole by
    ``chat.domain.directory.parse_directory``): add, update, and remove numbers no longer
    listed (:func:`chat.domain.directory.diff_directory`, the rule the preview shows).
    Idempotent. Raises BadRequest or ChannelNotFound when a staff number, department or
    channel vanished since validation."""
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        desired = await _resolve_directory(uow, rows)
        entries = {e.number: e for e in await uow.pbx.directory()}
        diff = diff_directory(desired, {n: _stored(e) for n, e in entries.items()})
        for number in diff.added:
            target = desired[number]
            uow.pbx.add_directory_entry(PbxDirectoryEntry(
                number=number, kind=target.kind, user_id=target.user_id,
                channel_id=target.channel_id, name=target.name, updated_at=now))
        for number in diff.updated:
            entry, target = entries[number], desired[number]
            entry.kind, entry.user_id = target.kind, target.user_id
            entry.channel_id, entry.name = target.channel_id, target.name
            entry.updated_at = now
        await uow.pbx.remove_directory_entries(list(diff.removed))
        report = DirectoryReport(created=len(diff.added), updated=len(diff.updated),
                                 removed=len(diff.removed))
        audit_within(ctx, uow, AuditAction.PBX_DIRECTORY_IMPORTED, actor_user_id=actor_user_id,
                     by=by, created=report.created, updated=report.updated,
                     removed=report.removed)
    return report


async def _desk_channel(uow: UnitOfWork, target: str) -> int:
    """A desk phone's channel: ``#<channel id>`` (a group chat) or a department code."""
    if target.startswith("#"):
        channel = await uow.channels.get(int(target[1:]))
        if channel is None or channel.kind not in {"group", "department"}:
            raise ChannelNotFound(f"channel {target} is not a group or department channel")
        return channel.id
    department = await uow.departments.by_code(target)
    channel = await uow.channels.for_department(department.id) if department else None
    if channel is None:
        raise ChannelNotFound(f"department {target} has no channel")
    return channel.id


async def directory_listing(ctx: AppContext) -> list[JSON]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        entries = await uow.pbx.directory()
    country = ctx.settings.pbx_country_code
    return [{"number": e.number, "number_display": Number(e.number).display(country),
             "kind": e.kind, "user_id": e.user_id, "channel_id": e.channel_id, "name": e.name}
            for e in entries]
