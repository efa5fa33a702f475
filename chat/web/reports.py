"""Field reports and the HQ board over HTTP, thin (docs/disaster.md, docs/protocol.md).

Posting a report is the generic card route (``POST /api/cards/report``); here are its
photo uploads, the board, the audited positions, status changes, the report photos and
the map's base layer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat.actions import hq_map
from chat.actions import reports as report_actions
from chat.errors import BadRequest
from chat.web.attachments import IMAGE_HEADERS, read_image_body
from chat.web.auth import app_context, require_principal
from chat.web.errors import read_json_object


async def upload_photo(request: Request) -> JSONResponse:
    ctx = app_context(request)
    actor = await require_principal(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await read_image_body(request, ctx.settings.max_upload_bytes)
    photo = await report_actions.upload_report_photo(ctx, actor=actor, data=data,
                                                     content_type=content_type)
    return JSONResponse({"photo": photo}, status_code=201)


async def _serve(request: Request, *, thumb: bool) -> Response:
    actor = await require_principal(request)
    photo = await report_actions.report_photo_bytes(
        app_context(request), actor=actor,
        attachment_id=int(request.path_params["attachment_id"]), thumb=thumb)
    return Response(photo.content, media_type=photo.content_type, headers=IMAGE_HEADERS)


async def photo(request: Request) -> Response:
    return await _serve(request, thumb=False)


async def photo_thumb(request: Request) -> Response:
    return await _serve(request, thumb=True)


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if not value:
        return None
    if not value.isdigit():
        raise BadRequest(f"{name} must be a number")
    return int(value)


async def board(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    query = request.query_params
    return JSONResponse(await report_actions.report_board(
        app_context(request), actor=actor, category=query.get("category") or None,
        severity=_int_param(request, "severity"), status=query.get("status") or None,
        before=_int_param(request, "before")))


async def positions(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    raw = request.query_params.get("ids", "")
    ids = [part for part in raw.split(",") if part]
    if not all(part.isdigit() for part in ids):
        raise BadRequest("ids must be message ids separated by commas")
    return JSONResponse(await report_actions.report_positions(
        app_context(request), actor=actor, message_ids=[int(i) for i in ids]))


async def set_status(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    status = body.get("status")
    if not isinstance(status, str):
        raise BadRequest("status must be a string")
    message = await report_actions.set_report_status(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"]),
        status=status)
    return JSONResponse({"message": message})


async def map_layer(request: Request) -> JSONResponse:
    await require_principal(request)
    return JSONResponse(await hq_map.map_layer(app_context(request)))


routes = [
    Route("/api/reports", board),
    Route("/api/reports/photos", upload_photo, methods=["POST"]),
    Route("/api/reports/photos/{attachment_id:int}", photo),
    Route("/api/reports/photos/{attachment_id:int}/thumb", photo_thumb),
    Route("/api/reports/positions", positions),
    Route("/api/reports/map", map_layer),
    Route("/api/reports/{message_id:int}/status", set_status, methods=["POST"]),
]
