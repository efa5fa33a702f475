"""Photos over HTTP (thin): the upload, and the image and thumbnail for members.

The browser fetches images with ``fetch()`` and a DPoP proof like any API call and
shows them as blob URLs (an ``<img src>`` cannot carry a proof).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat.actions import attachments as attachment_actions
from chat.domain.images import Location
from chat.errors import BadRequest, BodyTooLarge
from chat.web.auth import app_context, require_principal

# Images are immutable per id, but a shared PC must not keep them after sign-out.
# (X-Content-Type-Options: nosniff is on every response: chat.web.headers.)
IMAGE_HEADERS = {"Cache-Control": "private, no-store", "Content-Disposition": "inline"}


async def read_image_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to be over ``limit``:
    from Content-Length before reading anything, or while streaming."""
    declared = request.headers.get("content-length")
    too_large = BodyTooLarge(f"Photos are limited to {limit // (1024 * 1024)} MB")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _device_location(request: Request) -> Location | None:
    """``lat`` and ``lon`` from the query: where the phone says it is, used only when
    the photo's EXIF has no place (browsers often strip it from camera pictures)."""
    lat, lon = request.query_params.get("lat"), request.query_params.get("lon")
    if lat is None and lon is None:
        return None
    try:
        where = Location(round(float(lat or ""), 6), round(float(lon or ""), 6))
    except ValueError:
        raise BadRequest("lat and lon must be numbers") from None
    if not (-90 <= where.lat <= 90 and -180 <= where.lon <= 180):
        raise BadRequest("lat and lon are out of range")
    return where


async def upload(request: Request) -> JSONResponse:
    ctx = app_context(request)
    actor = await require_principal(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await read_image_body(request, ctx.settings.max_upload_bytes)
    share = request.query_params.get("share_location", "").lower() in {"1", "true", "yes"}
    attachment = await attachment_actions.upload_photo(
        ctx, actor=actor, channel_id=int(request.path_params["channel_id"]), data=data,
        content_type=content_type, share_location=share,
        device_location=_device_location(request))
    return JSONResponse({"attachment": attachment}, status_code=201)


async def _serve(request: Request, *, thumb: bool) -> Response:
    actor = await require_principal(request)
    photo = await attachment_actions.photo_bytes(
        app_context(request), actor=actor,
        attachment_id=int(request.path_params["attachment_id"]), thumb=thumb)
    return Response(photo.content, media_type=photo.content_type, headers=IMAGE_HEADERS)


async def image(request: Request) -> Response:
    return await _serve(request, thumb=False)


async def thumbnail(request: Request) -> Response:
    return await _serve(request, thumb=True)


routes = [
    Route("/api/channels/{channel_id:int}/attachments", upload, methods=["POST"]),
    Route("/api/attachments/{attachment_id:int}", image),
    Route("/api/attachments/{attachment_id:int}/thumb", thumbnail),
]
