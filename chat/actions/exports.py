"""Auditor exports: a job per export, run in the background page by page, files written
privately and hashed as they go, a manifest at the end, and a sweep for jobs a stopped
node left behind. Who may export, the reason and the audit entries are the same as for
search (:mod:`chat.actions.records`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import IO

from chat.actions.records import (
    Actor,
    label_of,
    reason_of,
    record_query,
    record_read,
    require_reader,
    sender_channels,
    who_of,
)
from chat.audit.record import audit, audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.dates import wire_time, wire_time_or_none
from chat.domain.export import (
    CSV_HEADER,
    FORMAT_FILES,
    MANIFEST_FILE,
    UTF8_BOM,
    FileSummary,
    build_manifest,
    csv_rows,
    csv_text,
    jsonl_line,
    manifest_bytes,
)
from chat.domain.records import RecordFilters
from chat.errors import BadRequest, ExportNotFound, ExportNotReady
from chat.store.models import ExportJob
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON, Progress

log = logging.getLogger(__name__)

EXPORT_BATCH = 500
EXPORTS_DIR = "exports"
# A job's runner says it is alive this often (queued or running); a running job silent
# for EXPORT_ABANDONED_AFTER was left by a node that stopped without shutting down.
EXPORT_BEAT_SECONDS = 10.0
EXPORT_ABANDONED_AFTER = timedelta(seconds=60)


def export_dir(ctx: AppContext, job_id: int) -> Path:
    """Where a node writes an export's files: ``CHAT_VAR_DIR/exports/<id>/``."""
    return ctx.settings.var_dir / EXPORTS_DIR / str(job_id)


def job_json(job: ExportJob) -> JSON:
    formats = job.formats.split(",")
    manifest = json.loads(job.manifest) if job.manifest else None
    names = [FORMAT_FILES[f] for f in formats] + [MANIFEST_FILE]
    return {
        "id": job.id, "state": job.state, "formats": formats,
        "filters": json.loads(job.filters),
        "requested_by": {"user_id": job.requested_by_user_id, "label": job.requested_by},
        "created_at": wire_time(job.created_at),
        "finished_at": wire_time_or_none(job.finished_at),
        "done": job.done, "total": job.total, "manifest": manifest, "error": job.error,
        "node_id": job.node_id, "reason": job.reason,
        "files": ([{"name": n, "url": f"/api/audit/exports/{job.id}/files/{n}"}
                   for n in names] if job.state == "done" else []),
    }


async def start_export(ctx: AppContext, *, actor: Actor, filters: RecordFilters,
                       formats: tuple[str, ...], remote: str | None = None,
                       reason: str | None = None) -> JSON:
    """Create a running export job (audited as ``records.export_started``, with the
    reason); the caller then runs :func:`run_export`, in the background or inline."""
    await require_reader(ctx, actor, AuditAction.RECORDS_EXPORT_STARTED, remote=remote,
                          formats=list(formats), **filters.to_json())
    reason = reason_of(actor, reason)
    if not formats or any(f not in FORMAT_FILES for f in formats):
        raise BadRequest(f"formats must be among: {', '.join(FORMAT_FILES)}")
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await record_query(uow, filters)  # an unknown person or channel is refused now
        job = ExportJob(state="running", formats=",".join(formats),
                        filters=json.dumps(filters.to_json(), ensure_ascii=False),
                        requested_by_user_id=None if isinstance(actor, str) else actor.user_id,
                        requested_by=label_of(actor), reason=reason,
                        created_at=ctx.clock.now(),
                        done=0, total=0, node_id=ctx.settings.node_id,
                        alive_at=ctx.clock.now())
        uow.exports.add(job)
        await uow.flush()
        audit_within(ctx, uow, AuditAction.RECORDS_EXPORT_STARTED, remote=remote, **who_of(actor),
                     export_id=job.id, formats=list(formats), reason=reason,
                     **filters.to_json())
        return job_json(job)


async def export_status(ctx: AppContext, *, actor: Actor, job_id: int,
                        remote: str | None = None) -> JSON:
    """A job's state, progress and (when done) manifest. Not a read of messages, so
    polling is not audited; a refused look is."""
    await require_reader(ctx, actor, AuditAction.RECORDS_EXPORT_STATUS, remote=remote,
                          export_id=job_id)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        job = await uow.exports.get(job_id)
        if job is None:
            raise ExportNotFound()
        return job_json(job)


async def list_exports(ctx: AppContext, *, actor: Actor, limit: int = 20,
                       remote: str | None = None) -> list[JSON]:
    """The newest export jobs, newest first (auditors only; like a job's status, not a
    read of messages, so only a refusal is audited)."""
    await require_reader(ctx, actor, AuditAction.RECORDS_EXPORT_STATUS, remote=remote)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return [job_json(job) for job in await uow.exports.recent(limit=limit)]


async def export_file(ctx: AppContext, *, actor: Actor, job_id: int, name: str,
                      remote: str | None = None) -> Path:
    """The path of one file of a finished export, after recording the download
    (``records.export_downloaded``, with the file's SHA-256). Only the job's own files
    (``messages.jsonl``, ``messages.csv``, ``manifest.json``) are served: ``name`` is
    matched against that list, never joined as given; anything else is refused and
    audited (a path-traversal attempt looks like this)."""
    await require_reader(ctx, actor, AuditAction.RECORDS_EXPORT_DOWNLOADED, remote=remote,
                          export_id=job_id, file=name[:100])
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        job = await uow.exports.get(job_id)
        if job is None:
            raise ExportNotFound()
        allowed = {FORMAT_FILES[f] for f in job.formats.split(",")} | {MANIFEST_FILE}
        state, manifest = job.state, json.loads(job.manifest or "{}")
        node_id = job.node_id
    if name not in allowed:
        await audit(ctx, AuditAction.RECORDS_EXPORT_DOWNLOADED, outcome="refused", remote=remote,
                    reason="not_a_file_of_this_export", export_id=job_id, file=name[:100],
                    **who_of(actor))
        raise ExportNotFound()
    if state != "done":
        raise ExportNotReady(f"The export is {state}")
    path = export_dir(ctx, job_id) / name
    if not path.is_file():
        raise ExportNotFound("The export's files are not on this server"
                             + (f" (they are on node {node_id})" if node_id else ""))
    digest = next((f["sha256"] for f in manifest.get("files", []) if f["name"] == name),
                  None)
    await record_read(ctx, AuditAction.RECORDS_EXPORT_DOWNLOADED, actor, remote=remote,
                       export_id=job_id, file=name, sha256=digest)
    return path


class _OutputFile:
    """A file written page by page and hashed as it goes (never read back)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.handle: IO[bytes] | None = None

    def open(self) -> None:
        # Mode 0600: these files hold every message text an auditor asked for.
        self.handle = open(self.path, "wb", opener=_private)

    def write(self, data: bytes, rows: int) -> None:
        assert self.handle is not None
        self.handle.write(data)
        self.sha256.update(data)
        self.size += len(data)
        self.rows += rows

    def close(self) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def summary(self) -> FileSummary:
        return FileSummary(name=self.path.name, rows=self.rows, bytes=self.size,
                           sha256=self.sha256.hexdigest())


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _prepare(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def _write_pages(chunks: list[tuple[_OutputFile, bytes, int]]) -> None:
    for output, data, rows in chunks:
        output.write(data, rows)


def _remove(outputs: list[_OutputFile], directory: Path) -> None:
    for output in outputs:
        with contextlib.suppress(OSError):
            output.close()
        with contextlib.suppress(OSError):
            output.path.unlink()
    with contextlib.suppress(OSError):
        (directory / MANIFEST_FILE).unlink()


async def run_export(ctx: AppContext, *, job_id: int, directory: Path | None = None,
                     progress: Progress | None = None, batch: int = EXPORT_BATCH) -> JSON:
    """Write a started job's files and manifest into ``directory`` (default
    :func:`export_dir`), a page of ``batch`` messages at a time: memory stays bounded by
    the page, each file is hashed while it is written, and the job's progress is saved
    after every page. The export covers the messages that existed when it started
    (``up_to_message_id`` in the manifest). Returns the manifest.

    On failure or cancellation the partial files are removed, the job is marked
    ``failed`` and ``records.export_failed`` is audited; the error propagates.
    """
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        job = await uow.exports.get(job_id)
        if job is None:
            raise ExportNotFound()
    target = directory or export_dir(ctx, job_id)
    outputs = {f: _OutputFile(target / FORMAT_FILES[f]) for f in job.formats.split(",")}
    try:
        return await _write_export(ctx, job, outputs, target, progress, batch)
    except BaseException as error:
        await asyncio.to_thread(_remove, list(outputs.values()), target)
        reason = ("interrupted: the server shut down"
                  if isinstance(error, asyncio.CancelledError) else str(error) or
                  type(error).__name__)
        await fail_export(ctx, job_id, reason)
        raise


async def _write_export(ctx: AppContext, job: ExportJob, outputs: dict[str, _OutputFile],
                        target: Path, progress: Progress | None, batch: int) -> JSON:
    filters = RecordFilters.from_json(json.loads(job.filters))
    await asyncio.to_thread(_prepare, target)
    for output in outputs.values():
        await asyncio.to_thread(output.open)
    jsonl, csv_out = outputs.get("jsonl"), outputs.get("csv")
    if csv_out is not None:
        await asyncio.to_thread(csv_out.write, UTF8_BOM + csv_text([CSV_HEADER]).encode(), 0)
    messages = revisions = purged = 0
    touched: set[str] = set()
    # One snapshot for the whole export: what the manifest counts is one consistent state.
    async with unit_of_work(ctx.db, TxMode.SNAPSHOT_READ) as uow:
        query = await record_query(uow, filters)
        query = replace(query, up_to_message_id=await uow.records.last_message_id())
        total = await uow.records.count(query)
        await _save_progress(ctx, job.id, 0, total, progress)
        async for page in uow.records.stream(query, batch=batch):
            chunks: list[tuple[_OutputFile, bytes, int]] = []
            if jsonl is not None:
                chunks.append((jsonl, "".join(map(jsonl_line, page)).encode(), len(page)))
            if csv_out is not None:
                rows = [row for record in page for row in csv_rows(record)]
                chunks.append((csv_out, csv_text(rows).encode(), len(rows)))
            await asyncio.to_thread(_write_pages, chunks)
            messages += len(page)
            revisions += sum(len(r.revisions) for r in page)
            purged += sum(1 for r in page if r.state == "purged")
            touched |= sender_channels(page)
            await _save_progress(ctx, job.id, messages, max(total, messages), progress)
    for output in outputs.values():
        await asyncio.to_thread(output.close)
    files = [o.summary() for o in outputs.values()]
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        head = await uow.audit.head()
        stored = await uow.exports.get(job.id, for_update=True)
        assert stored is not None
        if stored.state != "running":
            raise RuntimeError("the job was marked failed meanwhile: its runner was silent "
                               "for too long")
        now = ctx.clock.now()
        manifest = build_manifest(
            export_id=job.id, created_at=job.created_at, finished_at=now,
            requested_by=job.requested_by, requested_by_user_id=job.requested_by_user_id,
            filters=filters.to_json(), files=files, messages=messages, revisions=revisions,
            purged=purged, up_to_message_id=query.up_to_message_id or 0,
            audit_head=(head.seq, head.hash) if head is not None and head.seq else None)
        data = manifest_bytes(manifest)
        await asyncio.to_thread(_write_manifest, target / MANIFEST_FILE, data)
        stored.state, stored.finished_at = "done", now
        stored.done = stored.total = messages
        stored.manifest = json.dumps(manifest, ensure_ascii=False)
        audit_within(ctx, uow, AuditAction.RECORDS_EXPORTED, actor_user_id=job.requested_by_user_id,
                     export_id=job.id, by=job.requested_by, messages=messages,
                     revisions=revisions, files=[f.name for f in files],
                     sha256=[f.sha256 for f in files], rows=[f.rows for f in files],
                     manifest_sha256=hashlib.sha256(data).hexdigest(),
                     reason=job.reason, sender_channels=sorted(touched))
    return manifest


def _write_manifest(path: Path, data: bytes) -> None:
    with open(path, "wb", opener=_private) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


async def _save_progress(ctx: AppContext, job_id: int, done: int, total: int,
                         progress: Progress | None) -> None:
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.exports.set_progress(job_id, done=done, total=total)
    if progress:
        progress(done, total)


async def fail_export(ctx: AppContext, job_id: int, reason: str) -> None:
    """Mark a job failed and audit it (``records.export_failed``); never raises."""
    try:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            job = await uow.exports.get(job_id, for_update=True)
            if job is None or job.state != "running":
                return
            job.state, job.error, job.finished_at = "failed", reason[:500], ctx.clock.now()
            audit_within(ctx, uow, AuditAction.RECORDS_EXPORT_FAILED, outcome="failed",
                         actor_user_id=job.requested_by_user_id, export_id=job_id,
                         by=job.requested_by, reason=reason[:200])
    except Exception:
        log.exception("could not mark export %s failed", job_id)


@contextlib.asynccontextmanager
async def keep_alive(ctx: AppContext, job_id: int, *,
                     every: float = EXPORT_BEAT_SECONDS) -> AsyncIterator[None]:
    """While the block runs (the job queued or running), say every ``every`` seconds
    that its runner is alive, so no sweep takes it for abandoned."""
    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
                    await uow.exports.mark_alive(job_id, ctx.clock.now())
            except Exception:
                log.exception("export %s: could not say it is alive", job_id)

    task = asyncio.create_task(beat(), name=f"export-{job_id}-alive")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def sweep_exports(ctx: AppContext) -> tuple[int, int]:
    """Every node, periodically: mark failed (and audit) the running jobs whose runner
    has been silent for :data:`EXPORT_ABANDONED_AFTER` (its node stopped without
    shutting down), then remove this node's files of jobs that are not running or
    done (failed, or gone). Returns (jobs failed, directories removed)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        silent = await uow.exports.silent_since(ctx.clock.now() - EXPORT_ABANDONED_AFTER)
    for job in silent:
        await fail_export(ctx, job.id, "interrupted: the node running it stopped"
                          + (f" ({job.node_id})" if job.node_id else ""))
    root = ctx.settings.var_dir / EXPORTS_DIR
    found = await asyncio.to_thread(_job_directories, root)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        states = await uow.exports.states(sorted(found))
    leftovers = [found[job_id] for job_id in sorted(found)
                 if states.get(job_id) not in {"running", "done"}]
    for directory in leftovers:
        await asyncio.to_thread(shutil.rmtree, directory, True)
    if silent or leftovers:
        log.info("exports: %d abandoned job(s) marked failed, %d partial director(ies) "
                 "removed", len(silent), len(leftovers))
    return len(silent), len(leftovers)


def _job_directories(root: Path) -> dict[int, Path]:
    """job id → its directory under ``root`` (names that are not ids are left alone)."""
    if not root.is_dir():
        return {}
    return {int(entry.name): entry for entry in root.iterdir()
            if entry.is_dir() and entry.name.isdigit()}
