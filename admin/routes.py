"""The console's URL map (``/admin``), its home page and its static files.

Each route names its roles in its handler (:func:`admin.views.page`); GET and POST of one
URL are separate handlers so that seeing and changing can be different duties (everyone
in either role sees retention periods; only admins set them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admin import audit_log, devices, disaster, operations, people, records, reports
from admin.views import DISASTER_STAFF, EITHER, Console, page

STATIC_DIR = Path(__file__).resolve().parent / "static"


@page(EITHER | DISASTER_STAFF, what="open the admin console")
async def home(c: Console) -> Response:
    return c.render("home.html")


Endpoint = Callable[[Request], Awaitable[Response]]


def _route(path: str, *, get: Endpoint | None = None, post: Endpoint | None = None) -> Route:
    """One route for a URL whose GET and POST have their own handlers (and roles)."""
    if get is None or post is None:
        only = get or post
        assert only is not None
        return Route(path, only, methods=["GET"] if get else ["POST"])

    async def endpoint(request: Request) -> Response:
        return await (get if request.method in {"GET", "HEAD"} else post)(request)

    return Route(path, endpoint, methods=["GET", "POST"])


routes: list[BaseRoute] = [
    Mount("/admin/static", app=StaticFiles(directory=str(STATIC_DIR)), name="admin-static"),
    _route("/admin", get=home),
    # people and the org chart
    _route("/admin/departments", get=people.departments, post=people.save_department),
    _route("/admin/departments/{code}", post=people.save_department),
    _route("/admin/staff", get=people.staff),
    _route("/admin/staff/{staff_number}", get=people.person),
    _route("/admin/staff/{staff_number}/role", post=people.change_role),
    _route("/admin/staff/{staff_number}/active", post=people.set_active),
    _route("/admin/imports", get=people.imports),
    _route("/admin/imports/staff", post=people.import_staff),
    _route("/admin/imports/directory", post=people.import_directory),
    # devices
    _route("/admin/devices", get=devices.devices),
    _route("/admin/devices/enroll", post=devices.enroll),
    _route("/admin/devices/{device_id:int}/revoke", post=devices.revoke),
    # records
    _route("/admin/records/search", get=records.search),
    _route("/admin/records/messages/{message_id:int}", get=records.message),
    _route("/admin/records/exports", get=records.exports, post=records.start_export),
    _route("/admin/records/exports/{export_id:int}", get=records.export),
    _route("/admin/records/retention", get=records.retention, post=records.set_retention),
    _route("/admin/records/holds", get=records.holds, post=records.place_hold),
    _route("/admin/records/holds/{hold_id:int}/release", post=records.release_hold),
    _route("/admin/records/verify", get=records.verify, post=records.start_verify),
    _route("/admin/audit", get=audit_log.audit_log),
    # operations
    _route("/admin/pbx/events", get=operations.pbx_events),
    _route("/admin/pbx/secrets", get=operations.pbx_secrets, post=operations.create_secret),
    _route("/admin/pbx/secrets/{name}/rotate", post=operations.create_secret),
    _route("/admin/pbx/secrets/{name}/retire", post=operations.retire_secret),
    _route("/admin/pbx/directory", get=operations.pbx_directory),
    _route("/admin/policy", get=operations.policy),
    _route("/admin/policy/hours", post=operations.set_hours),
    _route("/admin/policy/disaster", post=operations.set_disaster),
    _route("/admin/health", get=operations.health),
    # disaster mode (災害・訓練)
    _route("/admin/disaster", get=disaster.disaster),
    _route("/admin/disaster/declare", post=disaster.declare),
    _route("/admin/disaster/end", post=disaster.end),
    _route("/admin/disaster/hq-members", post=disaster.set_hq_members),
    # the HQ board (field reports) and the map's boundary file
    _route("/admin/reports", get=reports.board),
    _route("/admin/reports/{message_id:int}/status", post=reports.set_status),
    _route("/admin/reports/boundary", post=reports.upload_boundary),
]
