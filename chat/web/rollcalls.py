"""Safety roll calls (安否確認), thin: HQ starts one, reminds, reads the tally, downloads
the CSV and ends it; everyone reads their own answer and answers (chat.actions.rollcall).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat.actions import rollcall as actions
from chat.auth.sessions import Principal
from chat.web.auth import app_context, require_principal
from chat.web.errors import read_json_object


def _by(actor: Principal) -> str:
    return f"{actor.name} (user {actor.user_id})"[:100]


def _id(request: Request) -> int:
    return int(request.path_params["rollcall_id"])


async def start(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    text = body.get("text")
    rollcall = await actions.start_rollcall(
        app_context(request), text=text if isinstance(text, str) else "",
        deadline_minutes=body.get("deadline_minutes"), by=_by(actor), actor=actor)
    return JSONResponse({"rollcall": rollcall}, status_code=201)


async def overview(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse(await actions.rollcall_overview(app_context(request), actor=actor))


async def mine(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse(await actions.my_rollcall(app_context(request), actor=actor,
                                                  rollcall_id=_id(request)))


async def answer(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    result = await actions.answer_rollcall(
        app_context(request), actor=actor, rollcall_id=_id(request),
        status=body.get("status"), note=body.get("note"), position=body.get("position"))
    return JSONResponse({"answer": result})


async def tally(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse({"tally": await actions.rollcall_tally(
        app_context(request), actor=actor, rollcall_id=_id(request))})


async def remind(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    count = await actions.remind_unanswered(app_context(request), rollcall_id=_id(request),
                                            by=_by(actor), actor=actor)
    return JSONResponse({"reminded": count})


async def end(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse({"rollcall": await actions.end_rollcall(
        app_context(request), rollcall_id=_id(request), by=_by(actor), actor=actor)})


async def export_csv(request: Request) -> Response:
    actor = await require_principal(request)
    name, data = await actions.export_rollcall_csv(
        app_context(request), rollcall_id=_id(request), by=_by(actor), actor=actor)
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})


routes = [
    Route("/api/rollcalls", start, methods=["POST"]),
    Route("/api/rollcalls", overview, methods=["GET"]),
    Route("/api/rollcalls/{rollcall_id:int}", mine, methods=["GET"]),
    Route("/api/rollcalls/{rollcall_id:int}/answer", answer, methods=["POST"]),
    Route("/api/rollcalls/{rollcall_id:int}/tally", tally, methods=["GET"]),
    Route("/api/rollcalls/{rollcall_id:int}/remind", remind, methods=["POST"]),
    Route("/api/rollcalls/{rollcall_id:int}/end", end, methods=["POST"]),
    Route("/api/rollcalls/{rollcall_id:int}/export.csv", export_csv, methods=["GET"]),
]
