"""``POST /api/memos``, thin: an operator's phone memo (伝言メモ, docs/pbx.md §8)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions import memos as memo_actions
from chat.errors import BadRequest
from chat.web.auth import app_context, require_principal
from chat.web.errors import read_json_object


def _text(body: dict[str, object], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


async def create_memo(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    for_user_id = body.get("for_user_id")
    if for_user_id is not None and (not isinstance(for_user_id, int)
                                    or isinstance(for_user_id, bool)):
        raise BadRequest("for_user_id must be an integer")
    extension = body.get("extension")
    if extension is not None and not isinstance(extension, str):
        raise BadRequest("extension must be a string")
    message = await memo_actions.record_memo(app_context(request), actor=actor,
                                             memo=memo_actions.MemoIn(
        caller_name=_text(body, "caller_name"), company=_text(body, "company"),
        number=_text(body, "number"), action=_text(body, "action"),
        text=_text(body, "text"), for_user_id=for_user_id, extension=extension))
    return JSONResponse({"message": message}, status_code=201)



routes = [
    Route("/api/memos", create_memo, methods=["POST"]),
]
