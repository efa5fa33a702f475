"""Auditor HTTP API: search, one message's history, exports and their files.

Thin: authentication (``require_principal``), parameter parsing, and the background
tasks that run exports on this node; the rules and the audit trail live in
``chat.actions.records``. Search, view and export each take the auditor's ``reason``
(query parameter, or the export body's field): the people whose messages are read see it.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from chat.actions import access_log
from chat.actions import exports as export_actions
from chat.actions import records as record_actions
from chat.context import AppContext
from chat.domain.export import parse_formats
from chat.domain.records import RecordFilters, parse_filters
from chat.errors import BadRequest
from chat.web.auth import app_context, client_host, require_principal
from chat.web.errors import read_json_object

log = logging.getLogger(__name__)

DEFAULT_PAGE = 50
MEDIA_TYPES = {"messages.jsonl": "application/x-ndjson; charset=utf-8",
               "messages.csv": "text/csv; charset=utf-8",
               "manifest.json": "application/json"}


class ExportTasks:
    """The exports running on this node. Started by ``POST /api/audit/exports``, at most
    ``concurrency`` at a time, each saying it is alive while queued or running
    (``keep_alive``); at shutdown the unfinished ones are cancelled, which marks their
    jobs failed and removes their partial files. A node that stops without shutting
    down leaves that to the other nodes' sweep (``sweep_exports``)."""

    def __init__(self, *, concurrency: int = 2) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)

    def start(self, ctx: AppContext, job_id: int) -> None:
        task = asyncio.create_task(self._run(ctx, job_id), name=f"export-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, ctx: AppContext, job_id: int) -> None:
        started = False
        try:
            async with export_actions.keep_alive(ctx, job_id), self._slots:
                started = True
                await export_actions.run_export(ctx, job_id=job_id)
        except asyncio.CancelledError:
            if not started:  # still queued: run_export did not get to mark it
                await export_actions.fail_export(ctx, job_id,
                                                 "interrupted: the server shut down")
            raise
        except Exception:
            # run_export marked the job failed and audited it; keep the trace here.
            log.exception("export %s failed", job_id)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _filters(values: dict[str, object]) -> RecordFilters:
    try:
        return parse_filters(user=values.get("user"), channel_id=values.get("channel_id"),
                             since=values.get("from"), until=values.get("to"),
                             words=values.get("q"))
    except ValueError as error:
        raise BadRequest(str(error)) from None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "")
    if not raw:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= record_actions.MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {record_actions.MAX_PAGE}")
    return int(raw)


async def search(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    params = request.query_params
    result = await record_actions.search_messages(
        app_context(request), actor=actor, filters=_filters(dict(params)),
        cursor=params.get("cursor") or None, limit=_limit(request),
        remote=client_host(request), reason=params.get("reason", ""))
    return JSONResponse(result)


async def message(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    result = await record_actions.message_history(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"]),
        remote=client_host(request), reason=request.query_params.get("reason", ""))
    return JSONResponse(result)


async def start_export(request: Request) -> JSONResponse:
    """``{"filters": {"user", "channel_id", "from", "to", "q"}, "formats": ["jsonl",
    "csv"], "reason": "…"}`` → 202 with the job; poll ``GET /api/audit/exports/{id}``."""
    actor = await require_principal(request)
    ctx = app_context(request)
    body = await read_json_object(request)
    raw_filters = body.get("filters", {})
    if not isinstance(raw_filters, dict):
        raise BadRequest("filters must be an object")
    try:
        formats = parse_formats(body.get("formats"))
    except ValueError as error:
        raise BadRequest(str(error)) from None
    job = await export_actions.start_export(
        ctx, actor=actor, filters=_filters(raw_filters), formats=formats,
        remote=client_host(request), reason=_text(body.get("reason")))
    tasks: ExportTasks = request.state.export_tasks
    tasks.start(ctx, job["id"])
    return JSONResponse({"export": job}, status_code=202,
                        headers={"Location": f"/api/audit/exports/{job['id']}"})


async def export_status(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    job = await export_actions.export_status(
        app_context(request), actor=actor, job_id=int(request.path_params["export_id"]),
        remote=client_host(request))
    return JSONResponse({"export": job})


async def export_file(request: Request) -> FileResponse:
    """One file of a finished export, streamed from disk in chunks."""
    actor = await require_principal(request)
    job_id, name = int(request.path_params["export_id"]), request.path_params["name"]
    path = await export_actions.export_file(app_context(request), actor=actor, job_id=job_id,
                                            name=name, remote=client_host(request))
    return FileResponse(path, media_type=MEDIA_TYPES.get(name, "application/octet-stream"),
                        filename=f"tsunagu-export-{job_id}-{name}")


async def my_access(request: Request) -> JSONResponse:
    """``GET /api/me/access``: when auditors (or admins) read or exported the messages
    the signed-in person sent (``chat.actions.access_log``); any signed-in person, their
    own record only."""
    actor = await require_principal(request)
    return JSONResponse(await access_log.my_access(app_context(request), actor))


routes = [
    Route("/api/me/access", my_access),
    Route("/api/audit/messages", search),
    Route("/api/audit/messages/{message_id:int}", message),
    Route("/api/audit/exports", start_export, methods=["POST"]),
    Route("/api/audit/exports/{export_id:int}", export_status),
    Route("/api/audit/exports/{export_id:int}/files/{name}", export_file),
]
