"""The HQ board in the console (admins): the disaster's field reports with filters, who
changed a status and when, status changes, and the HQ map's boundary file (GeoJSON).

Positions are shown only on the map, opened on request (``?map=1``): console.js draws it
with the client's own map module and reads the positions through the same API as the
client's 本部 tab, which audits every read (``reports.positions_viewed``)."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.responses import Response

from admin.views import ADMINS, MAX_UPLOAD_BYTES, Console, page
from chat.actions import hq_map
from chat.actions import reports as report_actions
from chat.domain.cards.report import Category, ReportStatus, Severity
from chat.errors import BadRequest, NoActiveDisaster

PAGE = "/admin/reports"


async def _board_page(c: Console, *, status: int = 200, location: str | None = None,
                      error: str | None = None) -> Response:
    query = c.request.query_params
    filters = {"category": query.get("category", ""), "severity": query.get("severity", ""),
               "status": query.get("status", "")}
    board = None
    try:
        board = await report_actions.report_board(
            c.ctx, actor=c.actor, category=filters["category"] or None,
            severity=int(filters["severity"]) if filters["severity"].isdigit() else None,
            status=filters["status"] or None)
    except NoActiveDisaster:
        board = None
    layer = await hq_map.map_layer(c.ctx)
    boundary = layer["boundary"]
    return c.render("reports.html", status=status, location=location, error=error,
                    board=board, filters=filters, categories=list(Category),
                    severities=[int(s) for s in Severity], statuses=list(ReportStatus),
                    boundary_features=len(boundary["features"]) if boundary else None,
                    show_map=query.get("map") == "1" and board is not None,
                    tile_url=layer["tile_url"])


@page(ADMINS, what="see the HQ board")
async def board(c: Console) -> Response:
    return await _board_page(c)


@page(ADMINS, what="change a field report's status")
async def set_status(c: Console) -> Response:
    await report_actions.set_report_status(
        c.ctx, actor=c.actor, message_id=int(c.request.path_params["message_id"]),
        status=c.field("status", limit=16, required=True))
    c.notices.append(c.t("reports.status_saved"))
    return await _board_page(c, location=PAGE)


@page(ADMINS, what="upload the HQ map's boundary file")
async def upload_boundary(c: Console) -> Response:
    upload = c.form.get("file") if c.form is not None else None
    data = b""
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            return await _board_page(c, status=400, error=f"> {MAX_UPLOAD_BYTES} bytes")
    elif c.field("remove", limit=1) != "1":
        return await _board_page(c, status=400, error=c.t("reports.boundary_missing"))
    try:
        features = await hq_map.set_boundary(c.ctx, data, by=c.by,
                                             actor_user_id=c.actor.user_id)
    except BadRequest as error:
        return await _board_page(c, status=400, error=error.message)
    c.notices.append(c.t("reports.boundary_saved", n=features))
    return await _board_page(c, location=PAGE)
