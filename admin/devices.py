"""Devices (admins): enroll with a one-time link and QR code, list them with when they
were last seen and what sessions they hold, and revoke one (its sessions end at once and
its open connections close on every node)."""

from __future__ import annotations

import segno
from starlette.responses import Response

from admin.views import ADMINS, Console, page
from chat.actions import devices as device_actions
from chat.actions.devices import EnrollmentTicket


async def _devices_page(c: Console, *, location: str | None = None,
                        ticket: EnrollmentTicket | None = None, status: int = 200
                        ) -> Response:
    staff_number = c.request.query_params.get("staff_number", "")[:32] or None
    devices = await device_actions.list_devices(c.ctx, staff_number=staff_number)
    sessions = await device_actions.live_sessions_by_device(c.ctx)
    qr = segno.make(ticket.link, error="m").svg_data_uri(scale=4) if ticket else None
    return c.render("devices.html", devices=devices, sessions=sessions, ticket=ticket, qr=qr,
                    staff_number=staff_number or "", location=location, status=status)


@page(ADMINS, what="list devices")
async def devices(c: Console) -> Response:
    return await _devices_page(c)


@page(ADMINS, what="enroll devices")
async def enroll(c: Console) -> Response:
    ticket = await device_actions.create_enrollment(
        c.ctx, staff_number=c.field("staff_number", limit=32, required=True),
        label=c.field("label", limit=100) or None, created_by=c.by)
    return await _devices_page(c, ticket=ticket, location="/admin/devices")


@page(ADMINS, what="revoke devices")
async def revoke(c: Console) -> Response:
    ended = await device_actions.revoke_device(
        c.ctx, device_id=int(c.request.path_params["device_id"]),
        reason=c.field("reason") or "revoked by an administrator", by=c.by,
        actor_user_id=c.actor.user_id)
    c.notices.append(c.t("devices.revoked", count=len(ended)))
    return await _devices_page(c, location="/admin/devices")
